"""A company's own "changes since" web service as the sync engine's cursor source
(``adapters.onec.soap_source``), against the emulator's CrmExchange service over real
HTTP: every request imported once, a 1C user's edit read in the next window, a fault
mid-window leaving the cursor where it was, and due dates written back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from zeep.cache import InMemoryCache

from adapters.onec.emulator import Emulator
from adapters.onec.errors import OneCRejected, OneCUnavailable, OneCVersionConflict
from adapters.onec.soap import SoapClient
from adapters.onec.soap_source import SoapChangeSource
from crm_bridge.addons import discover, resolve_order
from crm_bridge.app import load_registry
from crm_bridge.config import config_from_text
from crm_bridge.events import EventBus
from crm_bridge.store.engine import Store, open_store
from crm_bridge.store.migrate import upgrade
from crm_bridge.store.tables import TicketRow
from mapping.compile import compile_mapping
from mapping.spec import MappingSpec
from sync.checkpoint import load_checkpoint
from sync.importer import Importer
from sync.source import RemoteRecord, supports_cursor

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2024, 3, 20, 12, 0, 0)
DOC = "Document_Интерес"
STREAM = "ticket:CrmExchange.Обращение:cursor"
SPEC = MappingSpec.model_validate({
    "model": "ticket", "entity": "CrmExchange.Обращение", "key": "Ссылка", "version": "ВерсияДанных",
    "deleted": "ПометкаУдаления",
    "fields": {"number": "Номер", "subject": "Тема", "description": "Описание", "created_at": "Дата",
               "resolved_at": "ДатаЗавершения", "resolution_due": {"from": "СрокИсполнения", "owner": "local"}},
})


class OwnCache(InMemoryCache):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._cache: dict[str, Any] = {}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(requests=23, seed=5, now=NOW) as emulator:
        yield emulator


@pytest.fixture
def source(emu: Emulator) -> Iterator[SoapChangeSource]:
    client = SoapClient(name="crm-ws", wsdl=f"http://127.0.0.1:{emu.port}/crm/ws/CrmExchange.1cws?wsdl",
                        username="Администратор", password="demo", timeout=(2.0, 2.0), cache=OwnCache())
    src = SoapChangeSource("crm-ws", client, mappings_dir=Path(), page_size=7)  # 23 requests: 4 pages
    yield src
    src.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(s, [a.path for a in resolve_order(discover())])
    yield s
    s.close()


def importer(store: Store, source: SoapChangeSource, now: datetime) -> Importer:
    registry = load_registry()[0]
    config = config_from_text("timezone: Europe/Moscow\n", registry)
    return Importer(store, EventBus(registry), config, source, {"ticket": compile_mapping(SPEC)}, now)


def at(minutes: float) -> datetime:
    """The bridge's clock, `minutes` after the emulated base's start (aware)."""
    return NOW.replace(tzinfo=MOSCOW) + timedelta(minutes=minutes)


def cursor(store: Store) -> str | None:
    with store.transaction() as s:
        return load_checkpoint(s, "crm-ws", STREAM).get("cursor")


def live(emu: Emulator) -> set[str]:
    """Numbers of the requests not marked for deletion (a marked one is never created here)."""
    return {d["Number"] for d in emu.records(DOC) if not d["DeletionMark"]}


def count(store: Store) -> int:
    with store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(TicketRow)) or 0)


def test_it_is_a_cursor_source_and_the_first_window_imports_every_request_once(
    emu: Emulator, source: SoapChangeSource, store: Store
) -> None:
    assert supports_cursor(source)
    stats = importer(store, source, at(0)).run("ticket")
    assert len(live(emu)) == 22  # one of the 23 carries a deletion mark
    assert (stats.read, stats.created) == (23, 22), stats.errors
    assert cursor(store) == (at(0) - source.cursor_lag).isoformat()
    with store.transaction() as s:
        assert set(s.scalars(select(TicketRow.number))) == live(emu)
    calls = emu.stats()["by_set"]["ws/CrmExchange"]["POST"]
    assert calls == 4  # pages of 7, following the service's cursor


def test_a_1c_users_edit_is_read_in_the_next_window_and_nothing_else_changes(
    emu: Emulator, source: SoapChangeSource, store: Store
) -> None:
    importer(store, source, at(0)).run("ticket")  # the window ends 30 s before the base's clock
    doc = emu.records(DOC)[3]
    emu.update(DOC, doc["Ref_Key"], {"Тема": "Счёт «на оплату» не печатается"})  # stamped on the base's clock
    stats = importer(store, source, at(10)).run("ticket")
    assert (stats.read, stats.updated, stats.created) == (1, 1, 0)
    with store.transaction() as s:
        assert s.scalars(select(TicketRow.subject).where(TicketRow.number == doc["Number"])).one() == (
            "Счёт «на оплату» не печатается")
    assert count(store) == 22


def test_a_fault_mid_window_keeps_the_cursor_and_the_next_run_loses_and_doubles_nothing(
    emu: Emulator, source: SoapChangeSource, store: Store
) -> None:
    calls = 0
    call = source.client.call

    def third_page_cut(operation: str, **params: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            emu.inject("truncate", entity_set="ws/CrmExchange", method="POST", count=1)
        return call(operation, **params)

    source.client.call = third_page_cut  # type: ignore[method-assign]
    with pytest.raises(OneCUnavailable):
        importer(store, source, at(0)).run("ticket")
    assert cursor(store) is None  # the window did not end: it is read again
    assert 0 < count(store) < 22  # pages before the fault are stored
    source.client.call = call  # type: ignore[method-assign]
    importer(store, source, at(1)).run("ticket")
    with store.transaction() as s:
        numbers = list(s.scalars(select(TicketRow.number)))
    assert sorted(numbers) == sorted(live(emu))  # each once
    assert cursor(store) == (at(1) - source.cursor_lag).isoformat()


def test_a_due_date_is_written_through_the_service_with_the_new_version(emu: Emulator, source: SoapChangeSource) -> None:
    doc = emu.records(DOC)[0]
    version = source.update(SPEC, doc["Ref_Key"], {"СрокИсполнения": datetime(2024, 3, 22, 15, 0, tzinfo=ZoneInfo("UTC"))})
    stored = emu.get(DOC, doc["Ref_Key"])
    assert stored is not None
    assert stored["СрокИсполнения"] == "2024-03-22T18:00:00"
    assert version == stored["DataVersion"] != doc["DataVersion"]
    with pytest.raises(OneCRejected, match="cannot write Тема"):
        source.update(SPEC, doc["Ref_Key"], {"Тема": "x"})


class FakeService:
    """``SoapClient.call`` answering from a script, for the edge cases a real service rarely shows."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers, self.asked = answers, []  # type: list[Any], list[dict[str, Any]]

    def call(self, operation: str, **params: Any) -> Any:
        self.asked.append({"operation": operation, **params})
        return self.answers.pop(0)

    def close(self) -> None: ...


def item(ref: str, minute: int, **values: Any) -> dict[str, Any]:
    return {"Ссылка": ref, "ВерсияДанных": f"v{minute}", "ПометкаУдаления": False, "ДатаИзменения": at(minute), **values}


def fake_source(answers: list[Any]) -> tuple[SoapChangeSource, FakeService]:
    service = FakeService(answers)
    return SoapChangeSource("fake", cast(SoapClient, service), mappings_dir=Path()), service


def test_items_at_or_after_until_end_the_window_and_the_service_is_asked_from_since() -> None:
    source, service = fake_source([
        {"Обращение": [item("a", 1), item("b", 2)], "ЕстьЕще": True, "Курсор": "c1"},
        {"Обращение": [item("c", 3), item("d", 5), item("e", 6)], "ЕстьЕще": True, "Курсор": "c2"},
    ])
    pages = list(source.changed(SPEC, at(1), at(5)))
    assert [[r.id for r in page] for page in pages] == [["a", "b"], ["c"]]
    assert pages[0][0] == RemoteRecord("a", "v1", False, item("a", 1))
    assert [(a["Cursor"], a["ChangedSince"]) for a in service.asked] == [(None, at(1)), ("c1", at(1))]
    assert service.answers == []  # the window ended at "d": no third page read


def test_a_service_that_says_more_without_moving_its_cursor_is_a_fault_not_a_loop() -> None:
    source, _ = fake_source([
        {"Обращение": [item("a", 1)], "ЕстьЕще": True, "Курсор": "c1"},
        {"Обращение": [item("a", 1)], "ЕстьЕще": True, "Курсор": "c1"},
    ])
    with pytest.raises(OneCUnavailable, match="did not move its cursor"):
        list(source.changed(SPEC, at(0), at(10)))


def test_an_item_without_a_change_time_or_key_is_a_fault_never_skipped() -> None:
    source, _ = fake_source([{"Обращение": [item("a", 1, ДатаИзменения=None)], "ЕстьЕще": False, "Курсор": ""}])
    with pytest.raises(OneCUnavailable, match=r"without a change time .*fill ДатаИзменения in every item in the 1C "
                       r"service module\. Item: Ссылка='a'"):
        list(source.changed(SPEC, at(0), at(10)))
    source, _ = fake_source([{"Обращение": [item("", 1)], "ЕстьЕще": False, "Курсор": ""}])
    with pytest.raises(OneCUnavailable, match=r"without Ссылка; will retry — the window waits for it .*fill Ссылка in "
                       r"every item in the 1C service module\. Item: Ссылка=''"):
        list(source.changed(SPEC, at(0), at(10)))


def test_a_refused_write_is_typed_a_stale_version_as_a_retryable_conflict() -> None:
    source, _ = fake_source([
        {"Успешно": False, "КодОшибки": "КонфликтВерсий", "ТекстОшибки": "изменено другим пользователем", "ВерсияДанных": "v9"},
        {"Успешно": False, "КодОшибки": "НеизвестноеСостояние", "ТекстОшибки": "Нет состояния X", "ВерсияДанных": "v9"},
        {"Успешно": False, "КодОшибки": "ОбъектЗаблокирован", "ТекстОшибки": "Документ открыт Ивановым", "ВерсияДанных": "v9"},
    ])
    with pytest.raises(OneCVersionConflict) as conflict:
        source.update(SPEC, "a", {"СрокИсполнения": None})
    assert conflict.value.retryable
    assert conflict.value.current_version == "v9"
    with pytest.raises(OneCRejected, match="Нет состояния X") as refused:
        source.update(SPEC, "a", {"Состояние": "X"})
    assert not refused.value.retryable
    with pytest.raises(OneCUnavailable, match="could not apply it now: ОбъектЗаблокирован: Документ открыт Ивановым"):
        source.update(SPEC, "a", {"Состояние": "В_РАБОТЕ"})  # a 1C user holds the object: later


def test_each_setter_call_expects_the_version_the_previous_one_produced() -> None:
    source, service = fake_source([{"Успешно": True, "ВерсияДанных": "v2"}, {"Успешно": True, "ВерсияДанных": "v3"}])
    due = datetime(2024, 3, 22, 15, 0, tzinfo=ZoneInfo("UTC"))
    assert source.update(SPEC, "a", {"СрокИсполнения": due, "Состояние": "В_РАБОТЕ"}, expected_version="v1") == "v3"
    assert [(a["operation"], a["ExpectedDataVersion"]) for a in service.asked] == [
        ("SetRequestDueDate", "v1"), ("SetRequestState", "v2")]


def test_a_full_read_lists_everything_and_refuses_a_key_resume() -> None:
    source, service = fake_source([{"Обращение": [item("a", 1), item("b", 2)], "ЕстьЕще": False, "Курсор": "c"}])
    assert [[r.id for r in page] for page in source.read(SPEC)] == [["a", "b"]]
    assert service.asked[0]["ChangedSince"] is None
    with pytest.raises(ValueError, match="time window"):
        list(source.read(SPEC, after="a"))
