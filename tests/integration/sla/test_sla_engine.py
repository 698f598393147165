"""The SLA engine against the emulator: the tick, recalculation, the ledger and `sla explain`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent, EventBus, Unit
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sla import engine as sla_engine
from sla.ledger import state_from_ledger
from sla.tables import SlaClockRow, SlaEventRow, SlaQueueRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def new_urgent_request(emulator: Emulator, bridge: App) -> dict[str, object]:
    template = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
    new_state = next(s["Ref_Key"] for s in emulator.records("Catalog_СостоянияИнтересов") if s["Description"] == "Новое")
    return bridge.backend("demo-1c").client.post(DOC, {  # type: ignore[no-any-return]
        "Date": "2026-11-23T09:45:00", "Партнер_Key": template["Партнер_Key"], "Тема": "Не работает вход",
        "ВидОбращения": "СрочныйЗапрос", "Состояние_Key": new_state, "Posted": True})


def test_the_tick_finds_the_breach_and_writes_it_into_1c(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=clock)
    announced: list[DomainEvent] = []

    def listen(_unit: Unit, event: DomainEvent) -> None:
        announced.append(event)

    bridge.registry.add(listen, usage="event.handler", model="sla.breach")
    bridge.registry.add(listen, usage="event.handler", model="sla.escalate", name="listen_escalate")
    bridge.bus = EventBus(bridge.registry)
    try:
        bridge.upgrade_db()
        doc = new_urgent_request(emulator, bridge)
        run_cycle(bridge)
        fresh = emulator.get(DOC, str(doc["Ref_Key"]))
        assert fresh is not None
        assert (fresh["СрокИсполнения"], fresh["СостояниеSLA"], fresh["НарушениеSLA"]) == ("2026-11-23T13:45:00", "on_track", False)
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
            assert s.get(SlaClockRow, ticket.id).next_check == datetime(2026, 11, 23, 10, 7, 30, tzinfo=MSK)  # first-response warning  # type: ignore[union-attr]
        clock.at = datetime(2026, 11, 23, 13, 46, tzinfo=MSK)
        tick = bridge.run_job("sla.tick")
        assert tick["checked"] >= 1
        bridge.run_job("sync.dispatch")
        late = emulator.get(DOC, str(doc["Ref_Key"]))
        assert late is not None
        assert (late["СостояниеSLA"], late["НарушениеSLA"]) == ("breached", True)
        with bridge.store.transaction() as s:
            from_ledger = state_from_ledger(s, ticket.id)  # the state the append-only ledger tells
        assert from_ledger["resolution"].breached
        assert not from_ledger["resolution"].paused
        assert not from_ledger["resolution"].ended
        breach = [e for e in announced if e.kind == "sla.breach" and e.local_id == ticket.id]
        assert [e.data["metric"] for e in breach] == ["first_response", "resolution"]
        assert any(e.kind == "sla.escalate" and e.data["action"] == "notify_supervisor" for e in announced)
    finally:
        bridge.close()


def test_recalc_after_a_policy_edit_keeps_the_old_story_and_writes_the_new_due_date(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    bridge = App.from_file(config)
    bridge.clock = clock
    try:
        bridge.upgrade_db()
        doc = new_urgent_request(emulator, bridge)
        run_cycle(bridge)
    finally:
        bridge.close()
    config.write_text(config.read_text(encoding="utf-8") + """
sla:
  policies:
    - {name: urgent, match: {type: [urgent]}, calendar: 24x7, targets: {first_response: 15m, resolution: 2h}}
    - {name: everything else, calendar: office, targets: {resolution: 48h}}
""", encoding="utf-8")
    cli = [sys.executable, "-m", "crm_bridge", "-c", str(config)]
    done = subprocess.run([*cli, "sla", "recalc", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["changed"] >= 1
    bridge = App.from_file(config)
    bridge.clock = lambda: datetime.now(MSK) + timedelta(minutes=1)
    try:
        bridge.run_job("sync.dispatch")
        after = emulator.get(DOC, str(doc["Ref_Key"]))
        assert after is not None
        assert after["СрокИсполнения"] == "2026-11-23T11:45:00"
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
            rows = s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket.id).order_by(SlaEventRow.id)).all()
        assert {r.generation for r in rows} == {1, 2}
        old = [r for r in rows if r.generation == 1 and r.kind == "apply_policy" and r.metric == "resolution"]
        assert old[0].data["target_seconds"] == 4 * 3600  # the first story stays in the ledger
        [recalculate] = [r for r in rows if r.kind == "recalculate"]
        assert recalculate.data["reason"] == "crm-bridge sla recalc"
    finally:
        bridge.close()

    explained = json.loads(subprocess.run([*cli, "sla", "explain", str(doc["Number"]), "--json"],
                                          capture_output=True, text=True, check=True).stdout)
    assert explained["policy"] == "urgent"
    assert [p["matched"] for p in explained["policies"]] == [True, False]
    assert explained["policies"][1]["reason"] == "not evaluated: an earlier policy matched"
    resolution = next(c for c in explained["cycles"] if c["metric"] == "resolution")
    assert resolution["target"] == 7200
    assert datetime.fromisoformat(resolution["periods"][0][0]) == datetime(2026, 11, 23, 9, 45, tzinfo=MSK)
    assert explained["ledger_generation"] == 2


def test_explain_prints_policies_targets_and_counted_periods(emulator: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    cli = [sys.executable, "-m", "crm_bridge", "-c", str(config)]
    subprocess.run([*cli, "run", "--once"], capture_output=True, check=True)
    number = next(d["Number"] for d in emulator.records(DOC) if d["ВидОбращения"] == "Консультация" and not d["DeletionMark"])
    out = subprocess.run([*cli, "sla", "explain", number], capture_output=True, text=True, check=True,
                         env={"COLUMNS": "200", "PATH": ""}).stdout
    assert "Policies, in order (first match wins)" in out
    assert "type is 'consultation', not one of urgent" in out
    assert "Policy consultation; targets for priority" in out
    assert " on office" in out
    assert "working period" in out
    assert "Ledger" in out
    missing = subprocess.run([*cli, "sla", "explain", "NO-SUCH"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    assert missing.returncode == 1
    assert "no request 'NO-SUCH'" in missing.stderr
    assert len(re.findall(r"^  CRM-\d{7}  opened \d\d\.\d\d\.\d{4} \d\d:\d\d MSK", missing.stderr, re.MULTILINE)) == 5, missing.stderr


def test_an_import_that_changed_only_what_the_plan_does_not_read_leaves_the_plan_alone(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned: list[int] = []
    real = sla_engine.plan_many

    def spy(unit: Unit, ids: list[int], **options: Any) -> int:
        planned.extend(ids)
        return real(unit, ids, **options)

    monkeypatch.setattr(sla_engine, "plan_many", spy)
    clock = FrozenClock(NOW)
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + """
sla:
  policies:
    - {name: burning, match: {when: "subject == 'Горит'"}, calendar: 24x7, targets: {resolution: 1h}}
    - {name: everything else, calendar: office, targets: {resolution: 48h}}
""", clock=clock)
    try:
        bridge.upgrade_db()
        doc = new_urgent_request(emulator, bridge)
        bridge.run_job("sync.pull")
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
            assert s.get(SlaQueueRow, ticket.id) is not None  # queued by the import's own transaction
        assert planned == []
        assert bridge.run_job("sla.tick")["planned"] >= 1
        assert ticket.id in planned  # a new request is planned
        assert bridge.config.section("sla").planned_from >= {"subject", "status", "created_at", "customer_id"}

        planned.clear()
        emulator.update(DOC, str(doc["Ref_Key"]), {"Описание": "Клиент прислал скриншот"})
        clock.at += timedelta(minutes=5)
        assert bridge.run_job("sync.pull")["demo-1c"]["ticket"]["updated"] == 1
        assert bridge.run_job("sla.tick")["planned"] == 0
        assert planned == []  # the description is no input of the plan

        emulator.update(DOC, str(doc["Ref_Key"]), {"Тема": "Горит"})  # a policy matches on the subject
        clock.at += timedelta(minutes=5)
        bridge.run_job("sync.pull")
        assert bridge.run_job("sla.tick")["planned"] == 1
        assert planned == [ticket.id]
        with bridge.store.transaction() as s:
            replanned = s.get(TicketRow, ticket.id)
            assert replanned is not None
            assert (replanned.sla_policy, replanned.resolution_due) == ("burning", datetime(2026, 11, 23, 10, 45, tzinfo=MSK))
    finally:
        bridge.close()
