"""What 1C stores is what counts: a write 1C takes but stores otherwise (a string cut to
its attribute's length) is parked with the reason, never recorded as sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.adapter import DEFAULT_MAPPINGS
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.emulator.schema import default_edmx
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
SLA_STATE = '<Property Name="СостояниеSLA" Type="Edm.String" Nullable="true"/>'


def sla_state_of_length(length: int) -> str:
    """The emulator's `$metadata` with `СостояниеSLA` a string of `length` characters."""
    edmx = default_edmx()
    assert SLA_STATE in edmx
    return edmx.replace(SLA_STATE, SLA_STATE.replace("/>", f' MaxLength="{length}"/>'))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # 7 characters: "paused", "warning", "stopped" fit; "on_track" and "breached" are cut
    with Emulator(requests=40, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  edmx=sla_state_of_length(7)) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[App]:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "store.db"), clock=FrozenClock(NOW))
    app.upgrade_db()
    yield app
    app.close()


def test_a_value_1c_cuts_is_parked_with_the_reason_and_a_later_pass_neither_resends_nor_counts_it_sent(
        emulator: Emulator, bridge: App) -> None:
    first = run_cycle(bridge)["sync.dispatch"]["demo-1c"]
    with bridge.store.transaction() as s:
        tickets = {b.remote_id: s.get(TicketRow, b.local_id) for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))}
        rows = list(s.scalars(select(OutboxRow)))
        s.expunge_all()
    cut = {key for key, t in tickets.items() if t is not None and t.sla_state is not None and len(t.sla_state) > 7}
    fits = {key for key, t in tickets.items() if t is not None and t.sla_state is not None and len(t.sla_state) <= 7}
    assert cut
    assert fits
    assert first["parked"] == len(cut)
    assert first["sent"] == len(tickets) - len(cut)
    parked = [r for r in rows if r.state == "parked"]
    assert len(parked) == len(cut)
    breached = next(r for r in parked if r.fields["sla_state"] == "breached")
    assert "1C stored 'breache' for СостояниеSLA (sent 'breached'): the field holds 7 characters" in (breached.last_error or "")
    docs = {d["Ref_Key"]: d for d in emulator.records(DOC)}
    assert all(docs[k]["СостояниеSLA"] == tickets[k].sla_state[:7] for k in cut)  # type: ignore[union-attr,index]
    assert all(docs[k]["СостояниеSLA"] == tickets[k].sla_state for k in fits)  # type: ignore[union-attr]
    # the other fields of a cut write went in: the due date is in 1C
    assert all(docs[k]["СрокИсполнения"] != "0001-01-01T00:00:00" for k in cut if tickets[k].resolution_due)  # type: ignore[union-attr]

    versions = {k: d["DataVersion"] for k, d in docs.items()}
    again = run_cycle(bridge)
    assert again["sync.dispatch"]["demo-1c"]["sent"] == 0
    assert again["sync.dispatch"]["demo-1c"]["unchanged"] == 0
    assert again["sync.pull"]["demo-1c"]["ticket"]["updated"] == 0
    assert {d["Ref_Key"]: d["DataVersion"] for d in emulator.records(DOC)} == versions  # no write again, pass after pass
    with bridge.store.transaction() as s:
        still = {r.id: (r.state, r.last_error) for r in s.scalars(select(OutboxRow).where(OutboxRow.id.in_([r.id for r in parked])))}
        assert {state for state, _ in still.values()} == {"parked"}
        assert s.scalars(select(OutboxRow).where(OutboxRow.state == "pending")).all() == []


def test_the_emulator_without_truncation_takes_every_state_whole(tmp_path: Path) -> None:
    with Emulator(requests=20, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  edmx=sla_state_of_length(7), truncate_strings=False) as emu:
        app = App.from_text(demo_config(emu.base_url, tmp_path / "store.db"), clock=FrozenClock(NOW))
        app.upgrade_db()
        try:
            done = run_cycle(app)["sync.dispatch"]["demo-1c"]
        finally:
            app.close()
    assert (done["parked"], done["errors"]) == (0, [])


def test_a_mapped_sla_policy_owned_locally_is_written_into_1c(tmp_path: Path) -> None:
    edmx = default_edmx().replace(SLA_STATE, SLA_STATE + '\n        <Property Name="ПолитикаSLA" Type="Edm.String" Nullable="true"/>')
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for shipped in DEFAULT_MAPPINGS.glob("*.yaml"):
        (mappings / shipped.name).write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    ticket = mappings / "ticket.yaml"
    ticket.write_text(ticket.read_text(encoding="utf-8") + "  sla_policy: {from: ПолитикаSLA, owner: local}\n", encoding="utf-8")
    with Emulator(requests=20, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}, edmx=edmx) as emu:
        config = demo_config(emu.base_url, tmp_path / "store.db") + f'    mappings: "{mappings}"\n'
        app = App.from_text(config, clock=FrozenClock(NOW))
        app.upgrade_db()
        try:
            run_cycle(app)
            with app.store.transaction() as s:
                policies = {b.remote_id: t.sla_policy for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))
                            if (t := s.get(TicketRow, b.local_id)) is not None}
        finally:
            app.close()
        docs = {d["Ref_Key"]: d for d in emu.records(DOC)}
    assert any(policies.values())
    assert all(docs[key]["ПолитикаSLA"] == (policy or "") for key, policy in policies.items())
