"""Cursor windows for sources listing changes by time: closed lower bound, overlap, lag."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

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
from sync.source import RemoteRecord
from sync.window import next_window

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SPEC = MappingSpec.model_validate({"model": "ticket", "entity": "tickets", "key": "id", "version": "etag",
                                   "fields": {"number": "number", "subject": "subject", "created_at": "created"}})


class TimeIndexedCrm:
    """A REST CRM answering `updated_at >= since and updated_at < until`, ordered by time."""

    name = "rest"
    mappings_dir = Path()
    cursor_overlap = timedelta(minutes=5)
    cursor_lag = timedelta(seconds=30)

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, object]] = {}
        self.asked: list[tuple[datetime, datetime]] = []

    def put(self, key: str, subject: str, updated: datetime) -> None:
        etag = str(int(self.rows.get(key, {}).get("etag", 0)) + 1)  # type: ignore[call-overload]
        self.rows[key] = {"id": key, "number": key.upper(), "subject": subject, "created": T0, "updated": updated, "etag": etag}

    def changed(self, spec: MappingSpec, since: datetime, until: datetime) -> Iterator[list[RemoteRecord]]:
        self.asked.append((since, until))
        rows = sorted((r for r in self.rows.values() if since <= r["updated"] < until), key=lambda r: r["updated"])  # type: ignore[operator]
        for start in range(0, len(rows), 2):
            yield [RemoteRecord(str(r["id"]), str(r["etag"]), False, dict(r)) for r in rows[start : start + 2]]

    def close(self) -> None: ...


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(s, [a.path for a in resolve_order(discover())])
    yield s
    s.close()


def importer(store: Store, crm: TimeIndexedCrm, now: datetime) -> Importer:
    registry = load_registry()[0]
    config = config_from_text("timezone: UTC\n", registry)
    return Importer(store, EventBus(registry), config, crm, {"ticket": compile_mapping(SPEC)}, now)  # type: ignore[arg-type]


def test_windows_start_before_the_cursor_and_stay_behind_now() -> None:
    window = next_window(T0, T0 + timedelta(hours=1), overlap=timedelta(minutes=5), lag=timedelta(seconds=30), start=T0 - timedelta(days=1))
    assert (window.since, window.until) == (T0 - timedelta(minutes=5), T0 + timedelta(minutes=59, seconds=30))
    with pytest.raises(ValueError, match="naive"):
        next_window(None, datetime(2026, 1, 1), overlap=timedelta(0), lag=timedelta(0), start=T0)  # noqa: DTZ001


def test_a_late_commit_with_an_earlier_stamp_and_a_boundary_stamp_are_both_read(store: Store) -> None:
    crm = TimeIndexedCrm()
    for i in range(5):
        crm.put(f"t{i}", f"subject {i}", T0 + timedelta(minutes=i))
    now = T0 + timedelta(minutes=10)
    importer(store, crm, now).run("ticket")
    with store.transaction() as s:
        cursor = datetime.fromisoformat(load_checkpoint(s, "rest", "ticket:tickets:cursor")["cursor"])
    assert cursor == now - crm.cursor_lag
    crm.put("late", "committed late", cursor - timedelta(minutes=2))  # stamped before the cursor, inside the overlap
    crm.put("edge", "exactly at the cursor", cursor)                  # a strict > would miss it
    crm.put("t1", "subject 1, edited", cursor + timedelta(seconds=1))
    stats = importer(store, crm, now + timedelta(minutes=10)).run("ticket")
    assert crm.asked[-1][0] == cursor - crm.cursor_overlap
    assert (stats.created, stats.updated) == (2, 1)
    with store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) == 7  # nothing doubled by the overlap
        assert s.scalars(select(TicketRow.subject).where(TicketRow.number == "T1")).one() == "subject 1, edited"


def test_a_crash_mid_window_reads_the_window_again_without_duplicates(store: Store) -> None:
    crm = TimeIndexedCrm()
    for i in range(5):
        crm.put(f"t{i}", f"subject {i}", T0 + timedelta(minutes=i))
    now = T0 + timedelta(minutes=10)

    class Crash(Exception):
        pass

    original = crm.changed

    def dies_after_two_pages(spec: MappingSpec, since: datetime, until: datetime) -> Iterator[list[RemoteRecord]]:
        for number, page in enumerate(original(spec, since, until)):
            if number == 2:
                raise Crash
            yield page

    crm.changed = dies_after_two_pages  # type: ignore[method-assign]
    with pytest.raises(Crash):
        importer(store, crm, now).run("ticket")
    with store.transaction() as s:
        assert load_checkpoint(s, "rest", "ticket:tickets:cursor") == {}  # the cursor did not move
    crm.changed = original  # type: ignore[method-assign]
    importer(store, crm, now).run("ticket")
    with store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) == 5
