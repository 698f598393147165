"""The whole loop over real HTTP: 1C emulator → import → SLA → outbox → PATCH → 1C."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketEventRow, TicketRow
from sla import add_business, business_between
from sla.settings import SlaConfig
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=60, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> Iterator[App]:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "store.db"), clock=clock)
    app.upgrade_db()
    yield app
    app.close()


SETTINGS = SlaConfig()
TARGETS = {"ТехническаяПроблема": ("office", 24), "Консультация": ("office", 48), "БлагодарностьЖалоба": ("office", 72),
           "СрочныйЗапрос": ("24x7", 4)}


def state_key(emulator: Emulator, name: str) -> str:
    return next(str(s["Ref_Key"]) for s in emulator.records("Catalog_СостоянияИнтересов") if s["Description"] == name)


def waiting_state(emulator: Emulator) -> str:
    return state_key(emulator, "Ожидает ответа клиента")


def wire(dt: datetime) -> str:
    return dt.astimezone(MOSCOW).replace(tzinfo=None).isoformat()


def test_every_imported_request_gets_its_type_deadline_written_into_1c(emulator: Emulator, bridge: App) -> None:
    result = run_cycle(bridge)
    docs = {d["Ref_Key"]: d for d in emulator.records(DOC)}
    live = [d for d in docs.values() if not d["DeletionMark"]]
    assert result["sync.pull"]["demo-1c"]["ticket"]["created"] == len(live)
    assert result["sync.dispatch"]["demo-1c"]["sent"] == len(live)
    for doc in live:
        opened = datetime.fromisoformat(doc["Date"]).replace(tzinfo=MOSCOW)
        calendar, hours = TARGETS[doc["ВидОбращения"]]
        if doc["Состояние_Key"] == waiting_state(emulator):
            assert doc["СрокИсполнения"] == "0001-01-01T00:00:00", doc["Number"]  # paused from the start: no due date
            continue
        expected = add_business(SETTINGS.calendar(calendar), opened, timedelta(hours=hours))
        assert doc["СрокИсполнения"] == wire(expected), doc["Number"]
    with bridge.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) == len(live)
        assert s.scalar(select(func.count()).select_from(TicketEventRow).where(TicketEventRow.kind == "created")) == len(live)


def test_a_second_pass_sees_its_own_writes_and_sends_nothing(emulator: Emulator, bridge: App) -> None:
    run_cycle(bridge)
    versions = {d["Ref_Key"]: d["DataVersion"] for d in emulator.records(DOC)}
    again = run_cycle(bridge)
    tickets = again["sync.pull"]["demo-1c"]["ticket"]
    assert (tickets["created"], tickets["updated"]) == (0, 0)
    assert again["sync.dispatch"]["demo-1c"]["sent"] == 0
    assert {d["Ref_Key"]: d["DataVersion"] for d in emulator.records(DOC)} == versions  # no echo write


def test_a_1c_user_changing_the_type_replans_and_writes_only_that_request(emulator: Emulator, bridge: App, clock: FrozenClock) -> None:
    run_cycle(bridge)
    working = {state_key(emulator, "Новое"), state_key(emulator, "В работе")}
    doc = next(d for d in emulator.records(DOC)  # an open consultation not yet overdue
               if not d["DeletionMark"] and d["ВидОбращения"] == "Консультация" and d["Состояние_Key"] in working
               and d["СрокИсполнения"] > NOW.replace(tzinfo=None).isoformat())
    others = {d["Ref_Key"]: d["DataVersion"] for d in emulator.records(DOC) if d["Ref_Key"] != doc["Ref_Key"]}
    emulator.update(DOC, doc["Ref_Key"], {"ВидОбращения": "СрочныйЗапрос"})
    clock.at += timedelta(minutes=5)
    result = run_cycle(bridge)
    assert result["sync.pull"]["demo-1c"]["ticket"]["updated"] == 1
    assert result["sync.dispatch"]["demo-1c"]["sent"] == 1
    after = emulator.get(DOC, doc["Ref_Key"])
    assert after is not None
    # business time already used on the office calendar stays used; the rest counts against 4 h round the clock
    opened = datetime.fromisoformat(doc["Date"]).replace(tzinfo=MOSCOW)
    used = business_between(SETTINGS.calendar("office"), opened, clock.at)
    expected = clock.at if used >= timedelta(hours=4) else add_business(SETTINGS.calendar("24x7"), clock.at, timedelta(hours=4) - used)
    assert after["СрокИсполнения"] == wire(expected)
    assert {d["Ref_Key"]: d["DataVersion"] for d in emulator.records(DOC) if d["Ref_Key"] != doc["Ref_Key"]} == others
    with bridge.store.transaction() as s:
        kinds = s.scalars(select(TicketEventRow.data).where(TicketEventRow.kind == "type_changed")).all()
    assert kinds == [{"from": "consultation", "to": "urgent"}]


def test_1c_down_during_write_back_keeps_the_outbox_and_delivers_later(tmp_path: Path, clock: FrozenClock) -> None:
    emu = Emulator(requests=20, seed=3, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}).start()
    port = emu.port
    app = App.from_text(demo_config(emu.base_url, tmp_path / "store.db"), clock=clock)
    try:
        app.upgrade_db()
        app.run_job("sync.pull")
        app.run_job("sla.tick")  # the plans write the SLA fields back
        emu.stop()
        down = app.run_job("sync.dispatch")["demo-1c"]
        assert down["sent"] == 0
        assert down["retried"] > 0
        with app.store.transaction() as s:
            pending = s.scalars(select(OutboxRow).where(OutboxRow.state == "pending")).all()
            assert len(pending) == down["retried"]
            assert all(r.attempts == 1 and r.next_attempt_at > NOW and "no answer" in (r.last_error or "") for r in pending)
        # 1C comes back (same base, same port); once the back-off has passed, everything is delivered
        emu = Emulator(port=port, requests=20, seed=3, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}).start()
        clock.at += timedelta(hours=2)
        up = app.run_job("sync.dispatch")["demo-1c"]
        assert up["sent"] == down["retried"]
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state != "sent")) == 0
            written = {b.remote_id: (b.written_version, s.get(TicketRow, b.local_id))
                       for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))}
        assert sum(1 for _, t in written.values() if t is not None and t.resolution_due is not None) >= 10
        for key, (version, ticket) in written.items():
            doc = emu.get(DOC, key)
            assert doc is not None
            assert ticket is not None
            if ticket.resolution_due is not None:
                assert doc["DataVersion"] == version
                assert doc["СрокИсполнения"] == wire(ticket.resolution_due)
    finally:
        emu.stop()
        app.close()


def test_version_scan_reads_in_full_only_what_changed(emulator: Emulator, bridge: App, clock: FrozenClock) -> None:
    run_cycle(bridge)
    quiet = run_cycle(bridge)["sync.pull"]["demo-1c"]["ticket"]
    assert quiet["read"] > 0
    assert quiet["fetched"] == 0
    docs = [d for d in emulator.records(DOC) if not d["DeletionMark"]][:3]
    for doc in docs:
        emulator.update(DOC, doc["Ref_Key"], {"Тема": doc["Тема"] + " (уточнение)"})
    clock.at += timedelta(minutes=1)
    busy = run_cycle(bridge)["sync.pull"]["demo-1c"]["ticket"]
    assert (busy["fetched"], busy["updated"]) == (3, 3)
    with bridge.store.transaction() as s:
        subjects = set(s.scalars(select(TicketRow.subject).where(TicketRow.subject.like("%(уточнение)"))))
    assert subjects == {d["Тема"] + " (уточнение)" for d in docs}


def test_a_request_for_a_customer_created_since_the_last_pass_imports_the_customer_first(emulator: Emulator, bridge: App) -> None:
    run_cycle(bridge)
    client = bridge.backend("demo-1c").client
    partner = client.post("Catalog_Партнеры", {"Description": "Новый Клиент ООО", "Клиент": True})
    template = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
    doc = client.post(DOC, {"Date": "2026-11-20T11:00:00", "Партнер_Key": partner["Ref_Key"], "Тема": "Первое обращение",
                            "ВидОбращения": "Консультация", "Состояние_Key": template["Состояние_Key"], "Posted": True})
    from sync.engine import mappings_for
    from sync.importer import import_model

    backend = bridge.backend("demo-1c")
    stats = import_model(bridge.store, bridge.bus, bridge.config, backend, mappings_for(backend, ["customer", "ticket"]), "ticket", NOW)
    assert stats.created == 2  # the customer, then the request
    with bridge.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "customer", BindingRow.local_id == ticket.customer_id)).one()
    assert binding.remote_id == partner["Ref_Key"]


def test_full_read_mode_gives_the_same_store_as_version_scan(emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> None:
    results = []
    for mode in ("version_scan", "full"):
        text = demo_config(emulator.base_url, tmp_path / f"{mode}.db") + f"    change_detection: {mode}\n"
        app = App.from_text(text, clock=clock)
        try:
            app.upgrade_db()
            app.run_job("sync.pull")
            with app.store.transaction() as s:
                results.append(sorted((t.number, t.type, t.status, t.customer_id is not None) for t in s.scalars(select(TicketRow))))
        finally:
            app.close()
    assert results[0] == results[1]
    assert len(results[0]) > 40


def test_a_request_1c_holds_without_a_state_or_a_known_type_is_imported_not_a_crash(emulator: Emulator, bridge: App,
                                                                                     clock: FrozenClock) -> None:
    run_cycle(bridge)
    template = next(d for d in emulator.records("Document_Интерес") if not d["DeletionMark"])
    made = bridge.backend("demo-1c").client.post("Document_Интерес", {  # as a 1C user leaves it: no state, an odd type
        "Date": "2026-11-23T09:30:00", "Партнер_Key": template["Партнер_Key"], "Тема": "Без состояния",
        "ВидОбращения": "Рекламация"})
    clock.at += timedelta(minutes=1)
    pulled = bridge.run_job("sync.pull")["demo-1c"]["ticket"]
    assert (pulled["created"], pulled["failed"]) == (1, 0), pulled
    with bridge.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.subject == "Без состояния")).one()
        assert (ticket.status, ticket.type) == ("new", "other")  # the model's default; the map's default
        binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == made["Ref_Key"])).one()
        assert "status" not in binding.base  # 1C's empty state is not what both sides hold
        assert binding.base["type"] == "other"  # the map's default: what the record holds
    emulator.update("Document_Интерес", str(made["Ref_Key"]), {"Тема": "Без состояния (уточнено)"})
    clock.at += timedelta(minutes=1)
    again = bridge.run_job("sync.pull")["demo-1c"]["ticket"]
    assert (again["updated"], again["failed"]) == (1, 0), again["errors"]
    with bridge.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == made["Ref_Key"])).one()
        assert "status" not in binding.base  # still: the merge would otherwise send our "new" over 1C's empty state
        assert s.get(TicketRow, binding.local_id).status == "new"  # type: ignore[union-attr]
