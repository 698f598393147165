"""Quarantine, not stop: one record 1C sends that cannot be read, converted, stored or
addressed is set aside with its reason and raw value; the rest of its page, the pass and
the write-back go on (the 1C emulator over loopback, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import TicketRow
from sync.quarantine import QuarantineRow
from sync.quarantine_cli import retry
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"


def config_text(base_url: str, store_url: str) -> str:
    return f"""
store: {{url: "{store_url}"}}
backends:
  demo-1c:
    kind: onec_odata
    url: "{base_url}"
    username: {DEMO_LOGIN}
    password: {DEMO_PASSWORD}
    timezone: Europe/Moscow
"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=11, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, store_url: str) -> Iterator[App]:
    app = App.from_text(config_text(emulator.base_url, store_url), clock=FrozenClock(NOW))
    app.upgrade_db()
    yield app
    app.close()


def corrupt(emu: Emulator, key: str, field: str, value: Any) -> None:
    """Put a value straight into the emulator's stored object, as a damaged base (or a
    proxy) would hand it out: no 1C check applies."""
    etype = emu.schema.sets[DOC].type
    with emu.store.lock:
        row = emu.store.lookup(DOC, key)
        assert row is not None
        row[etype.index[field]] = value


def live(emu: Emulator) -> set[str]:
    """The requests an import takes (those marked deleted never get a binding)."""
    return {d["Ref_Key"] for d in emu.records(DOC) if not d["DeletionMark"]}


def victim(emu: Emulator) -> str:
    """A live request in the middle of the set (not the first or last of a page)."""
    keys = sorted(live(emu))
    return keys[len(keys) // 2]


def imported(app: App) -> dict[str, TicketRow]:
    with app.store.transaction() as s:
        found = {b.remote_id: s.get(TicketRow, b.local_id)
                 for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))}
        s.expunge_all()
    return {k: v for k, v in found.items() if v is not None}


def quarantined(app: App) -> list[QuarantineRow]:
    with app.store.transaction() as s:
        rows = list(s.scalars(select(QuarantineRow).order_by(QuarantineRow.id)))
        s.expunge_all()
    return rows


def test_a_reference_that_is_no_guid_sets_its_request_aside_and_the_rest_is_imported(emulator: Emulator, bridge: App) -> None:
    key = victim(emulator)
    corrupt(emulator, key, "Партнер_Key", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")
    bridge.run_job("sync.pull")
    tickets = imported(bridge)
    assert len(tickets) == len(live(emulator)) - 1
    assert key not in tickets
    [row] = quarantined(bridge)
    assert (row.model, row.remote_id, row.stage, row.imported) == ("ticket", key, "read", False)
    assert "Партнер_Key" in row.reason
    assert "GUID" in row.reason
    assert row.raw is not None
    assert "zzzzzzzz-zzzz" in row.raw


def test_an_impossible_date_sets_its_request_aside_and_counts_again_without_a_second_entry(
        emulator: Emulator, bridge: App, caplog: pytest.LogCaptureFixture) -> None:
    key = victim(emulator)
    corrupt(emulator, key, "Date", "2026-13-45T25:61:00")
    bridge.run_job("sync.pull")
    assert len(imported(bridge)) == len(live(emulator)) - 1
    [row] = quarantined(bridge)
    assert (row.remote_id, row.stage, row.count) == (key, "read", 1)
    assert "2026-13-45T25:61:00" in row.reason
    caplog.clear()
    bridge.run_job("sync.pull")  # the record is read again (its binding never moved) and held again
    [row] = quarantined(bridge)
    assert row.count == 2
    assert not [r for r in caplog.records if getattr(r, "event", "") == "sync.import.skipped"]  # logged once


def test_text_that_is_not_utf8_sets_only_its_request_aside(emulator: Emulator, bridge: App) -> None:
    key = victim(emulator)
    emulator.update(DOC, key, {"Тема": "Тема с повреждённым текстом"})
    emulator.inject("garble", method="GET", entity_set=DOC, message="повреждённым")
    bridge.run_job("sync.pull")
    tickets = imported(bridge)
    assert len(tickets) == len(live(emulator)) - 1
    assert key not in tickets
    [row] = quarantined(bridge)
    assert (row.remote_id, row.stage) == (key, "read")
    assert "Тема: the text came from demo-1c with bytes that are not UTF-8" in row.reason


@pytest.mark.parametrize("bad", ["до\ud800после", "до\x00после"], ids=["lone-surrogate", "nul"])
def test_text_no_store_holds_is_imported_repaired_with_a_note(emulator: Emulator, bridge: App, bad: str) -> None:
    key = victim(emulator)
    corrupt(emulator, key, "Описание", bad)
    bridge.run_job("sync.pull")
    tickets = imported(bridge)
    assert len(tickets) == len(live(emulator))
    assert tickets[key].description == "до\ufffdпосле"
    [row] = quarantined(bridge)
    assert (row.remote_id, row.stage, row.imported) == (key, "store", True)
    assert "Описание" in row.reason


def test_a_value_the_store_refuses_sets_its_request_aside_and_stores_the_page(
        emulator: Emulator, bridge: App, store_url: str) -> None:
    key = victim(emulator)
    corrupt(emulator, key, "Тема", "т" * 1500)  # the subject column holds 1,000 characters on PostgreSQL
    result = bridge.run_job("sync.pull")
    tickets = imported(bridge)
    if store_url.startswith("sqlite"):  # SQLite keeps any length
        assert len(tickets) == len(live(emulator))
        assert quarantined(bridge) == []
        return
    assert len(tickets) == len(live(emulator)) - 1
    [row] = quarantined(bridge)
    assert (row.remote_id, row.stage) == (key, "store")
    assert "the store refused it" in row.reason
    assert result["demo-1c"]["ticket"]["failed"] == 1


def test_a_write_whose_key_is_no_guid_is_parked_and_the_other_rows_are_sent(emulator: Emulator, bridge: App) -> None:
    bridge.run_job("sync.pull")
    bridge.run_job("sla.tick")
    with bridge.store.transaction() as s:
        pending = list(s.scalars(select(OutboxRow).where(OutboxRow.state == "pending", OutboxRow.model == "ticket")))
        assert len(pending) > 2
        broken = pending[len(pending) // 2]
        binding = s.scalar(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.local_id == broken.local_id))
        assert binding is not None
        binding.remote_id = "not-a-guid"  # bound before keys were checked, or by a faulty store
        broken_id, count = broken.id, len(pending)
    result = bridge.run_job("sync.dispatch")["demo-1c"]
    assert result["parked"] == 1
    assert result["sent"] + result["unchanged"] == count - 1
    with bridge.store.transaction() as s:
        row = s.get(OutboxRow, broken_id)
        assert row is not None
        assert row.state == "parked"
        assert "not-a-guid" in (row.last_error or "")
        assert s.scalar(select(OutboxRow.id).where(OutboxRow.state == "pending")) is None
    [entry] = quarantined(bridge)
    assert (entry.remote_id, entry.stage) == ("not-a-guid", "write")


def test_retry_after_the_record_is_fixed_in_1c_clears_it(emulator: Emulator, bridge: App) -> None:
    key = victim(emulator)
    good = emulator.get(DOC, key)
    assert good is not None
    corrupt(emulator, key, "Date", "2026-13-45T25:61:00")
    bridge.run_job("sync.pull")
    [row] = quarantined(bridge)
    emulator.update(DOC, key, {"Date": good["Date"]})  # a 1C user corrects the date
    assert retry(bridge, [row.id]) == {"cleared": [row.id], "held": [], "requeued": []}
    assert quarantined(bridge) == []
    assert key in imported(bridge)
