"""Exchange-plan packages as a real 1C base writes them (INTERFACE.md §7a), over real HTTP:
no ``m:type`` on scalars (the emulator's ``real_1c_atom``, on by default), so every value
is typed from ``$metadata``; a malformed value holds its package with the reason shown;
an ``<at:deleted-entry>`` tombstone deletes the bound record (``atom_tombstones``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.values import from_wire
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow
from sync.engine import pull
from sync.tables import BindingRow, SyncRunRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
PARTNERS = "Catalog_Партнеры"
PLAN = "ExchangePlan_CRMBridge"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def start(**options: Any) -> Emulator:
    return Emulator(requests=30, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                    allow_delete=True, **options).start()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = start()
    yield emu
    emu.stop()


def open_bridge(emulator: Emulator, db: Path, clock: FrozenClock) -> App:
    app = App.from_text(demo_config(emulator.base_url, db) + "    change_detection: exchange_plan\n", clock=clock)
    app.upgrade_db()
    return app


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> Iterator[App]:
    app = open_bridge(emulator, tmp_path / "store.db", clock)
    yield app
    app.close()


def sync(app: App) -> dict[str, Any]:
    result: dict[str, Any] = pull(app, app.clock())["demo-1c"]
    return result


def received_no(emulator: Emulator) -> int:
    [node] = [n for n in emulator.records(PLAN) if n["Code"] == "CRMB"]
    return int(node["ReceivedNo"])


def select_changes(emulator: Emulator, number: int) -> str:
    """A package's raw body, read as any client would (asking again returns the same package)."""
    node = emulator.seed.exchange_nodes[PLAN]
    point = f"'{emulator.base_url}{PLAN}(guid'{node}')'"
    response = requests.post(f"{emulator.base_url}SelectChanges", params={"DataExchangePoint": point, "MessageNo": number},
                             auth=(DEMO_LOGIN.encode(), DEMO_PASSWORD.encode()), timeout=10)
    response.raise_for_status()
    return response.content.decode("utf-8")


def open_docs(emulator: Emulator) -> list[dict[str, Any]]:
    return [d for d in emulator.records(DOC) if not d["DeletionMark"]]


def bound(app: App, model: str) -> dict[str, int]:
    with app.store.transaction() as s:
        return {b.remote_id: b.local_id for b in s.scalars(select(BindingRow).where(BindingRow.model == model))}


def test_a_package_carries_no_m_type_on_scalars_as_a_real_base_writes_it(tmp_path: Path) -> None:
    for real in (True, False):
        emu = start(real_1c_atom=real)
        try:
            partner = emu.records(PARTNERS)[0]
            emu.update(PARTNERS, partner["Ref_Key"], {"Description": "Изменено"})
            body = select_changes(emu, 1)
        finally:
            emu.stop()
        assert (f"<d:Ref_Key>{partner['Ref_Key']}</d:Ref_Key>" in body) is real
        assert ("<d:DeletionMark>false</d:DeletionMark>" in body) is real
        assert ('<d:DeletionMark m:type="Edm.Boolean">false</d:DeletionMark>' in body) is not real
        assert ('m:type="Edm.' in body) is not real
        assert 'm:type="Collection(StandardODATA.Catalog_Партнеры_КонтактнаяИнформация_RowType)"' in body  # kept


def test_an_import_of_a_real_package_creates_exactly_the_live_records(emulator: Emulator, bridge: App) -> None:
    """Before the types came from $metadata, DeletionMark "false" read as true: every
    record was taken as deleted, none created, and the package acknowledged."""
    sync(bridge)
    client = bridge.backend("demo-1c").client
    made = [client.post(PARTNERS, {"Description": f"Клиент {n} ООО", "Клиент": True}) for n in range(3)]
    client.patch(PARTNERS, made[2]["Ref_Key"], {"DeletionMark": True})
    emulator.reset_stats()
    result = sync(bridge)
    assert "error" not in result, result
    assert (result["customer"]["read"], result["customer"]["created"]) == (3, 2)
    assert set(bound(bridge, "customer")) >= {made[0]["Ref_Key"], made[1]["Ref_Key"]}
    assert made[2]["Ref_Key"] not in bound(bridge, "customer")  # marked for deletion: nothing to create
    assert PARTNERS not in emulator.stats()["by_set"]  # stored from the package's text, not read again as JSON
    assert received_no(emulator) == 1


def test_booleans_and_dates_of_mapped_fields_arrive_typed(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    agent = next(u for u in emulator.records("Catalog_Пользователи") if not u["Недействителен"] and not u["Служебный"])
    emulator.update("Catalog_Пользователи", agent["Ref_Key"], {"Недействителен": True})  # she has left
    doc = open_docs(emulator)[0]
    emulator.update(DOC, doc["Ref_Key"], {"ДатаПервогоОтвета": "2026-11-20T11:30:00"})
    result = sync(bridge)
    assert "error" not in result, result
    assert (result["agent"]["updated"], result["ticket"]["updated"]) == (1, 1)
    agents, tickets = bound(bridge, "agent"), bound(bridge, "ticket")
    with bridge.store.transaction() as s:
        left = s.get(AgentRow, agents[agent["Ref_Key"]])
        ticket = s.get(TicketRow, tickets[doc["Ref_Key"]])
        assert left is not None
        assert ticket is not None
        assert left.active is False  # "true" text, typed Edm.Boolean, mapped {true: false}
        assert ticket.first_response_at == datetime(2026, 11, 20, 11, 30, tzinfo=MOSCOW)  # Moscow wall time


def test_numbers_and_booleans_of_a_package_are_typed_by_metadata(emulator: Emulator, bridge: App) -> None:
    state = emulator.records("Catalog_СостоянияИнтересов")[0]
    emulator.update("Catalog_СостоянияИнтересов", state["Ref_Key"], {"РеквизитДопУпорядочивания": 17})
    backend = bridge.backend("demo-1c")
    [entry] = backend.exchange.read(1).entries
    assert (entry.values["РеквизитДопУпорядочивания"], entry.values["Завершающее"]) == ("17", "false")  # the wire text
    values = from_wire(backend.client.metadata(), "Catalog_СостоянияИнтересов", entry.values, MOSCOW)
    assert (values["РеквизитДопУпорядочивания"], values["Завершающее"], values["DeletionMark"]) == (17, False, False)


def corrupt(emulator: Emulator, ref: str, field: str, value: str) -> None:
    """A value 1C should never send, in a mapped field, registered as a change."""
    index = emulator.schema.sets[DOC].type.index
    with emulator.store.lock:
        row = emulator.store.lookup(DOC, ref)
        assert row is not None
        row[index[field]] = value
        emulator.exchange.on_write(DOC, ref, "update")


def test_a_malformed_date_holds_the_package_with_the_reason_shown_and_loses_nothing(
        emulator: Emulator, bridge: App, clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    sync(bridge)
    bad, good = open_docs(emulator)[:2]
    corrupt(emulator, bad["Ref_Key"], "Date", "2026-13-45T25:61:00")
    emulator.update(DOC, good["Ref_Key"], {"Тема": "рядом с плохой записью"})
    with caplog.at_level(logging.WARNING):
        held = sync(bridge)
    reason = f"ticket {bad['Ref_Key']}: Date: '2026-13-45T25:61:00' is not a valid date and time (month must be in 1..12)"
    assert reason in held["error"]
    assert "package 1 not acknowledged" in held["error"]
    assert (held["ticket"]["updated"], held["ticket"]["failed"]) == (1, 1)  # the good entry is stored now
    assert held["feed"]["problems"] == 1
    assert received_no(emulator) == 0  # the bad one waits in 1C's registrations
    assert any(reason in r.getMessage() and getattr(r, "event", "") == "sync.import.skipped" for r in caplog.records)
    with bridge.store.transaction() as s:
        run = s.scalars(select(SyncRunRow).order_by(SyncRunRow.id.desc())).first()
        assert run is not None
        assert (run.status, run.failed) == ("failed", 1)  # what `crm-bridge status` shows
        assert reason in (run.error or "")
        tickets = s.scalar(select(func.count()).select_from(TicketRow))
    emulator.update(DOC, bad["Ref_Key"], {"Date": bad["Date"], "Тема": "дата исправлена"})
    clock.at += timedelta(minutes=1)
    fixed = sync(bridge)
    assert "error" not in fixed, fixed
    assert received_no(emulator) == 1
    with bridge.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) == tickets  # nothing doubled
        subjects = {b.remote_id: t.subject for b, t in s.execute(
            select(BindingRow, TicketRow).join(TicketRow, TicketRow.id == BindingRow.local_id)
            .where(BindingRow.model == "ticket"))}
    assert (subjects[bad["Ref_Key"]], subjects[good["Ref_Key"]]) == ("дата исправлена", "рядом с плохой записью")


def test_a_deleted_entry_tombstones_the_bound_record(tmp_path: Path, clock: FrozenClock) -> None:
    emu = start(atom_tombstones=True)
    app = open_bridge(emu, tmp_path / "store.db", clock)
    try:
        sync(app)
        doc, partner = open_docs(emu)[0], [p for p in emu.records(PARTNERS) if not p.get("IsFolder")][-1]
        client = app.backend("demo-1c").client
        client.delete(DOC, doc["Ref_Key"])
        body = select_changes(emu, 1)
        assert f"<at:deleted-entry ref=\"{emu.base_url}{DOC}(guid'{doc['Ref_Key']}')\"" in body
        assert "<entry>" not in body  # the object is gone: no entry, only its tombstone
        result = sync(app)
        assert "error" not in result, result
        assert result["feed"]["deleted"] == 1
        assert received_no(emu) == 1
        customers = bound(app, "customer")
        with app.store.transaction() as s:
            binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == doc["Ref_Key"])).one()
            ticket = s.get(TicketRow, binding.local_id)
            assert binding.state == "tombstone"
            assert ticket is not None
            assert ticket.deleted is True
            customer = s.get(CustomerRow, customers[partner["Ref_Key"]])
            assert customer is not None  # only what was deleted
    finally:
        app.close()
        emu.stop()
