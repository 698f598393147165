"""``change_detection: exchange_plan`` over real HTTP: the 1C emulator's exchange-plan
feed drives the import (INTERFACE.md §7a), with the store on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.errors import OneCUnavailable
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import CustomerRow, TicketRow
from sync.engine import mappings_for, pull, pull_streams
from sync.feed import feed_pass
from sync.tables import BindingRow, CheckpointRow, SyncRunRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
PARTNERS = "Catalog_Партнеры"
STREAM = "feed:CRMBridge/CRMB"
FEED = "    change_detection: exchange_plan\n"


class Crash(Exception):
    """Stands for the process dying at that line."""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=9, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  allow_delete=True) as emu:
        yield emu


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def open_bridge(emulator: Emulator, db: Path, clock: FrozenClock, extra: str = "") -> App:
    app = App.from_text(demo_config(emulator.base_url, db) + FEED + extra, clock=clock)
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


def feed_state(app: App) -> dict[str, Any]:
    with app.store.transaction() as s:
        row = s.scalars(select(CheckpointRow).where(CheckpointRow.stream == STREAM)).one_or_none()
        return {} if row is None else dict(row.value)


def received_no(emulator: Emulator) -> int:
    [node] = [n for n in emulator.records("ExchangePlan_CRMBridge") if n["Code"] == "CRMB"]
    return int(node["ReceivedNo"])


def open_docs(emulator: Emulator) -> list[dict[str, Any]]:
    return [d for d in emulator.records(DOC) if not d["DeletionMark"]]


def subjects(app: App) -> dict[str, str]:
    with app.store.transaction() as s:
        return {b.remote_id: t.subject for b, t in s.execute(
            select(BindingRow, TicketRow).join(TicketRow, TicketRow.id == BindingRow.local_id)
            .where(BindingRow.model == "ticket"))}


def test_the_first_pass_imports_everything_by_version_scan_and_then_marks_the_feed_initialised(
        emulator: Emulator, bridge: App) -> None:
    result = sync(bridge)
    assert result["feed"]["initial"] is True
    assert result["ticket"]["created"] == len(open_docs(emulator))
    assert result["customer"]["created"] > 0
    assert emulator.stats()["by_set"][DOC]["GET"] > 0  # the scan
    assert feed_state(bridge)["initialised"] == NOW.isoformat()
    again = sync(bridge)
    assert again["feed"]["initial"] is False
    assert (again["ticket"]["created"], again["ticket"]["updated"], again["ticket"]["read"]) == (0, 0, 0)


def test_changes_made_during_the_initial_scan_come_through_the_feed_and_are_skipped_as_unchanged(
        emulator: Emulator, bridge: App) -> None:
    doc = open_docs(emulator)[0]
    emulator.update(DOC, doc["Ref_Key"], {"Тема": "до первого прохода"})  # registered before the scan read it
    result = sync(bridge)  # the scan, then the feed: its package holds the same version
    assert subjects(bridge)[doc["Ref_Key"]] == "до первого прохода"
    assert (result["ticket"]["created"], result["ticket"]["updated"]) == (len(open_docs(emulator)), 0)
    assert result["feed"]["packages"] == 1
    assert received_no(emulator) == result["feed"]["acknowledged"] == 1
    again = sync(bridge)
    assert again["ticket"]["read"] == 0
    assert again["feed"]["packages"] == 0


def test_an_edit_in_1c_arrives_through_the_feed_and_only_it_is_read(emulator: Emulator, bridge: App,
                                                                     clock: FrozenClock) -> None:
    sync(bridge)
    docs = open_docs(emulator)[:2]
    for doc in docs:
        emulator.update(DOC, doc["Ref_Key"], {"Тема": doc["Тема"] + " (уточнение)"})
    emulator.reset_stats()
    clock.at += timedelta(minutes=1)
    result = sync(bridge)
    assert (result["ticket"]["read"], result["ticket"]["updated"]) == (2, 2)
    assert result["customer"]["read"] == 0
    stats = emulator.stats()["by_set"]
    # No scan and no read by key: the feed carried the records. One node look-up, the
    # package, the empty package that ends the pass, one acknowledgement.
    assert DOC not in stats
    assert PARTNERS not in stats
    assert stats["ExchangePlan_CRMBridge"] == {"GET": 1}
    assert stats["SelectChanges"] == {"POST": 2}
    assert stats["NotifyChangesReceived"] == {"POST": 1}
    assert {k: v for k, v in subjects(bridge).items() if k in {d["Ref_Key"] for d in docs}} == {
        d["Ref_Key"]: d["Тема"] + " (уточнение)" for d in docs}
    assert received_no(emulator) == 1


@pytest.mark.parametrize(
    ("kind", "options", "passes"),
    [
        ("status", {"status": 503, "retry_after": 1}, 1),  # retried in place: the same package comes again
        ("status", {"status": 429, "retry_after": 1}, 1),
        ("status", {"status": 500, "code": "0", "message": "Внутренняя ошибка сервера"}, 1),
        ("truncate", {}, 1),
        ("malformed", {}, 1),
        ("timeout", {"seconds": 3}, 1),
        ("drop", {}, 1),
        ("auth", {}, 2),  # not retried in place: the pass fails, the next one reads the package
        ("status", {"status": 503, "count": 4}, 2),  # longer than the retries in place
    ],
)
def test_a_fault_on_selectchanges_loses_and_doubles_nothing(emulator: Emulator, tmp_path: Path, clock: FrozenClock,
                                                             kind: str, options: dict[str, Any], passes: int) -> None:
    bridge = open_bridge(emulator, tmp_path / "store.db", clock, "    timeout: {connect: 2, read: 1}\n")
    try:
        sync(bridge)
        docs = open_docs(emulator)[:3]
        for doc in docs:
            emulator.update(DOC, doc["Ref_Key"], {"Тема": doc["Тема"] + " (уточнение)"})
        emulator.inject(kind, method="POST", entity_set="SelectChanges", **{"count": 1, **options})
        clock.at += timedelta(minutes=1)
        results = [sync(bridge)]
        if passes == 2:
            assert "SelectChanges #1" in results[0]["error"]
            assert received_no(emulator) == 0  # nothing acknowledged that was not stored
            results.append(sync(bridge))
        assert "error" not in results[-1], results[-1]
        assert sum(r.get("ticket", {}).get("updated", 0) for r in results) == 3  # each edit stored once
        assert received_no(emulator) == 1
        assert {k: v for k, v in subjects(bridge).items() if k in {d["Ref_Key"] for d in docs}} == {
            d["Ref_Key"]: d["Тема"] + " (уточнение)" for d in docs}
    finally:
        bridge.close()


def test_a_new_customer_and_its_request_arrive_in_one_package_customer_first(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    client = bridge.backend("demo-1c").client
    template = open_docs(emulator)[0]
    doc = client.post(DOC, {"Date": "2026-11-20T11:00:00", "Тема": "Первое обращение", "ВидОбращения": "Консультация",
                            "Состояние_Key": template["Состояние_Key"], "Posted": True})
    partner = client.post(PARTNERS, {"Description": "Новый Клиент ООО", "Клиент": True})
    client.patch(DOC, doc["Ref_Key"], {"Партнер_Key": partner["Ref_Key"]})
    emulator.reset_stats()
    result = sync(bridge)
    assert (result["customer"]["created"], result["ticket"]["created"]) == (1, 1)
    assert PARTNERS not in emulator.stats()["by_set"]  # stored from the package, not fetched as a missing reference
    with bridge.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
        customer = s.get(CustomerRow, ticket.customer_id)
    assert customer is not None
    assert customer.name == "Новый Клиент ООО"


def test_a_crash_between_storing_and_acknowledging_reads_the_same_package_again_and_changes_nothing(
        emulator: Emulator, bridge: App, monkeypatch: pytest.MonkeyPatch) -> None:
    sync(bridge)
    client = bridge.backend("demo-1c").client
    template = open_docs(emulator)[0]
    new = client.post(DOC, {"Date": "2026-11-20T11:30:00", "Тема": "Новое обращение", "ВидОбращения": "Консультация",
                            "Состояние_Key": template["Состояние_Key"], "Партнер_Key": template["Партнер_Key"],
                            "Posted": True})
    emulator.update(DOC, template["Ref_Key"], {"Тема": "правка"})
    backend = bridge.backend("demo-1c")
    acknowledge = backend.feed_acknowledge

    def die(number: int) -> None:
        raise Crash(number)

    monkeypatch.setattr(backend, "feed_acknowledge", die)
    with pytest.raises(Crash):
        sync(bridge)
    assert received_no(emulator) == 0
    assert feed_state(bridge)["stored"] == 1  # stored, not acknowledged
    with bridge.store.transaction() as s:
        tickets = s.scalar(select(func.count()).select_from(TicketRow))
    monkeypatch.setattr(backend, "feed_acknowledge", acknowledge)
    result = sync(bridge)
    assert result["feed"]["acknowledged"] == 1
    assert (result["ticket"]["read"], result["ticket"]["created"], result["ticket"]["updated"]) == (2, 0, 0)
    assert received_no(emulator) == 1
    with bridge.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) == tickets
        assert s.scalar(select(func.count()).select_from(BindingRow).where(BindingRow.remote_id == new["Ref_Key"])) == 1


def test_a_lost_acknowledgement_answer_is_settled_by_reading_received_no(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    doc = open_docs(emulator)[0]
    emulator.update(DOC, doc["Ref_Key"], {"Тема": "1"})
    emulator.inject("drop", method="POST", entity_set="NotifyChangesReceived", count=1)
    result = sync(bridge)  # 1C never got the acknowledgement: the pass fails and says so
    assert "NotifyChangesReceived" in result["error"]
    assert received_no(emulator) == 0
    result = sync(bridge)
    assert "error" not in result
    assert (result["ticket"]["read"], result["ticket"]["updated"]) == (1, 0)
    assert received_no(emulator) == 1


def test_a_lost_answer_to_an_acknowledgement_1c_took_is_not_an_error(emulator: Emulator, bridge: App,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sync(bridge)
    emulator.update(DOC, open_docs(emulator)[0]["Ref_Key"], {"Тема": "1"})
    feed = bridge.backend("demo-1c").exchange
    acknowledge = feed.acknowledge

    def taken_but_lost(number: int) -> None:
        acknowledge(number)
        raise OneCUnavailable("crm: NotifyChangesReceived: no answer (ReadTimeout); will retry")

    monkeypatch.setattr(feed, "acknowledge", taken_but_lost)
    result = sync(bridge)
    assert "error" not in result
    assert result["feed"]["acknowledged"] == received_no(emulator) == 1


def assert_tombstoned(bridge: App, ref: str) -> None:
    with bridge.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == ref)).one()
        ticket = s.get(TicketRow, binding.local_id)
    assert binding.state == "tombstone"
    assert ticket is not None
    assert ticket.deleted is True


def test_a_deletion_mark_in_1c_becomes_a_tombstone(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    doc = open_docs(emulator)[0]
    client = bridge.backend("demo-1c").client
    if doc["Posted"]:
        client.unpost_document(DOC, doc["Ref_Key"])  # 1C refuses to mark a posted document
    client.patch(DOC, doc["Ref_Key"], {"DeletionMark": True})
    result = sync(bridge)
    assert result["ticket"]["updated"] == 1
    assert_tombstoned(bridge, doc["Ref_Key"])


def test_a_record_deleted_outright_in_1c_tombstones_its_binding(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    doc = open_docs(emulator)[0]
    bridge.backend("demo-1c").client.delete(DOC, doc["Ref_Key"])
    result = sync(bridge)
    assert result["feed"]["deleted"] == 1
    assert_tombstoned(bridge, doc["Ref_Key"])
    assert received_no(emulator) == 1


def corrupt(emulator: Emulator, ref: str, field: str = "НарушениеSLA", value: str = "maybe") -> None:
    """A value 1C should never send (a boolean reading "maybe") in a mapped field, registered as a change."""
    index = emulator.schema.sets[DOC].type.index
    with emulator.store.lock:
        row = emulator.store.lookup(DOC, ref)
        assert row is not None
        row[index[field]] = value
        emulator.exchange.on_write(DOC, ref, "update")


def test_an_unparsable_entry_is_retried_then_parked_loudly_and_never_acknowledged(
        emulator: Emulator, bridge: App, clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    sync(bridge)
    bad, good = open_docs(emulator)[:2]
    corrupt(emulator, bad["Ref_Key"])
    emulator.update(DOC, good["Ref_Key"], {"Тема": "рядом с плохой записью"})
    first = sync(bridge)
    assert "package 1 not acknowledged" in first["error"]
    assert "attempt 1 of 3" in first["error"]
    assert f"ticket {bad['Ref_Key']}: НарушениеSLA: 'maybe' is not a boolean" in first["error"]
    assert first["ticket"]["updated"] == 1  # the good entry of the package is stored all the same
    assert first["ticket"]["failed"] == 1
    assert received_no(emulator) == 0
    state = feed_state(bridge)
    assert (state["package"], state["attempts"], state["parked"]) == (1, 1, None)
    assert bad["Ref_Key"] in state["problems"][0]["entry"]
    with bridge.store.transaction() as s:
        run = s.scalars(select(SyncRunRow).order_by(SyncRunRow.id.desc())).first()
    assert run is not None
    assert (run.status, run.error) == ("failed", first["error"])
    sync(bridge)
    emulator.reset_stats()
    clock.at += timedelta(minutes=2)
    with caplog.at_level("ERROR"):
        third = sync(bridge)
    assert "PARKED after 3 attempts" in third["error"]
    assert third["feed"]["parked"] is True
    assert any(r.levelname == "ERROR" and getattr(r, "event", "") == "sync.feed.parked" for r in caplog.records)
    assert emulator.stats()["by_set"][DOC]["GET"] > 0  # parked: version scans stand in
    assert received_no(emulator) == 0
    # The object is fixed in 1C: the next read of the package is clean and acknowledged.
    emulator.update(DOC, bad["Ref_Key"], {"НарушениеSLA": False})
    fixed = sync(bridge)
    assert "error" not in fixed
    assert received_no(emulator) == 1
    assert "problems" not in feed_state(bridge)


def test_a_record_the_import_refuses_holds_its_package_until_1c_fixes_it(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    bad = open_docs(emulator)[0]
    emulator.update(DOC, bad["Ref_Key"], {"Number": "   "})  # a request without a number is refused
    held = sync(bridge)
    assert f"ticket {bad['Ref_Key']}:" in held["error"]
    assert "package 1 not acknowledged: 1 entry could not be stored (attempt 1 of 3" in held["error"]
    assert received_no(emulator) == 0  # acknowledged, the change would have left the feed for good
    [problem] = feed_state(bridge)["problems"]
    assert '"Number": "   "' in problem["entry"]  # the record as 1C sent it, for the person who looks
    emulator.update(DOC, bad["Ref_Key"], {"Number": bad["Number"], "Тема": "исправлено в 1С"})
    fixed = sync(bridge)
    assert "error" not in fixed
    assert received_no(emulator) == 1
    assert subjects(bridge)[bad["Ref_Key"]] == "исправлено в 1С"


def test_a_refusal_no_edit_in_1c_can_clear_does_not_hold_the_feed(emulator: Emulator, bridge: App) -> None:
    sync(bridge)
    doc = open_docs(emulator)[0]
    with bridge.store.transaction() as s:  # a binding whose local record is gone (a restore from an old backup)
        s.scalars(select(BindingRow).where(BindingRow.remote_id == doc["Ref_Key"])).one().local_id = 999_999
    emulator.update(DOC, doc["Ref_Key"], {"Тема": "правка"})
    result = sync(bridge)
    assert "error" not in result, result
    assert result["ticket"]["failed"] == 1
    assert "which no longer exists" in result["ticket"]["errors"][0]
    assert received_no(emulator) == 1  # acknowledged: holding the package could never help


def test_a_type_no_mapping_covers_parks_the_package_until_it_is_ignored_on_purpose(
        emulator: Emulator, bridge: App, tmp_path: Path, clock: FrozenClock) -> None:
    sync(bridge)
    company = emulator.records("Catalog_Контрагенты")[0]
    emulator.update("Catalog_Контрагенты", company["Ref_Key"], {"Description": "Переименовано"})
    result = sync(bridge)
    assert "Catalog_Контрагенты" in result["error"]
    assert "no mapping covers this type" in result["error"]
    assert received_no(emulator) == 0
    bridge.close()
    relaxed = open_bridge(emulator, tmp_path / "store.db", clock,
                          "    exchange_plan: {ignore_types: [Catalog_Контрагенты]}\n")
    try:
        result = sync(relaxed)
        assert "error" not in result
        assert result["feed"]["acknowledged"] == received_no(emulator) == 1
    finally:
        relaxed.close()


def test_check_says_what_to_publish_when_the_plan_or_the_node_is_missing(emulator: Emulator, tmp_path: Path,
                                                                         clock: FrozenClock) -> None:
    app = open_bridge(emulator, tmp_path / "nonode.db", clock, "    exchange_plan: {node: NOPE}\n")
    try:
        [line] = [c for c in app.backend("demo-1c").check() if "exchange plan" in c["detail"]]
        assert line["ok"] is False
        assert "no node with code 'NOPE'" in line["detail"]
        assert "'CRMB'" in line["detail"]
        result = sync(app)  # the pass fails before any work
        assert "no node with code 'NOPE'" in result["error"]
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(TicketRow)) == 0
    finally:
        app.close()
    emulator.unpublish("ExchangePlan_CRMBridge")
    app = open_bridge(emulator, tmp_path / "noplan.db", clock)
    try:
        [line] = [c for c in app.backend("demo-1c").check() if "exchange plan" in c["detail"]]
        assert line["ok"] is False
        assert "ExchangePlan_CRMBridge is not published" in line["detail"]
        assert "standard OData" in line["detail"]
    finally:
        app.close()


def test_packages_follow_each_other_until_an_empty_one_at_most_max_packages_a_pass(tmp_path: Path, clock: FrozenClock) -> None:
    with Emulator(requests=40, seed=9, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  exchange_package_size=2) as emu:
        app = open_bridge(emu, tmp_path / "store.db", clock)
        try:
            sync(app)
            docs = open_docs(emu)[:5]
            for doc in docs:
                emu.update(DOC, doc["Ref_Key"], {"Тема": doc["Тема"] + " !"})
            backend = app.backend("demo-1c")
            mappings = mappings_for(backend, list(app.config.backends["demo-1c"].models))
            first = feed_pass(app.store, app.bus, app.config, backend, mappings, NOW, max_packages=2)
            assert (first.packages, first.acknowledged, first.models["ticket"].updated) == (2, 2, 4)
            rest = sync(app)
            assert (rest["feed"]["packages"], rest["feed"]["acknowledged"], rest["ticket"]["updated"]) == (1, 3, 1)
            assert received_no(emu) == 3
            assert all(subjects(app)[d["Ref_Key"]] == d["Тема"] + " !" for d in docs)
        finally:
            app.close()


def test_under_the_queue_a_feed_backend_is_one_stream_not_key_range_partitions(bridge: App) -> None:
    assert [(s.key, s.kwargs) for s in pull_streams(bridge)] == [("pull:demo-1c", {"backend": "demo-1c"})]


def test_asking_for_one_model_still_imports_it_by_version_scan(emulator: Emulator, bridge: App) -> None:
    result = pull(bridge, NOW, backend="demo-1c", model="customer")["demo-1c"]
    assert "feed" not in result
    assert result["customer"]["created"] > 0
    assert feed_state(bridge) == {}
