"""Reconciliation against the emulator: missed updates repaired, hard deletes guarded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow
from sync.reconcile import reconcile_model, trim_runs
from sync.tables import BindingRow, SyncRunRow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}, allow_delete=True) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[App]:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=lambda: NOW)
    app.upgrade_db()
    app.run_job("sync.pull")
    yield app
    app.close()


def delete_in_1c(emulator: Emulator, keys: list[str]) -> None:
    with requests.Session() as http:
        http.auth = (DEMO_LOGIN.encode(), DEMO_PASSWORD.encode())  # type: ignore[assignment]
        for key in keys:
            http.delete(f"{emulator.base_url}{quote(DOC)}(guid'{key}')?$format=json", timeout=10).raise_for_status()


def live_keys(emulator: Emulator) -> list[str]:
    return [str(d["Ref_Key"]) for d in emulator.records(DOC) if not d["DeletionMark"]]


def test_a_record_deleted_outright_in_1c_becomes_a_tombstone(emulator: Emulator, bridge: App) -> None:
    [gone] = live_keys(emulator)[:1]
    delete_in_1c(emulator, [gone])
    stats = reconcile_model(bridge, "demo-1c", "ticket", NOW)
    assert (stats.deleted, stats.refused) == (1, None)
    with bridge.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == gone)).one()
        assert binding.state == "tombstone"
        assert s.get(TicketRow, binding.local_id).deleted is True  # type: ignore[union-attr]
        assert s.scalars(select(TicketRow).where(TicketRow.deleted.is_(True))).all().__len__() == 1


def test_many_records_missing_at_once_delete_nothing_and_say_why(emulator: Emulator, bridge: App) -> None:
    delete_in_1c(emulator, live_keys(emulator)[:10])
    stats = reconcile_model(bridge, "demo-1c", "ticket", NOW)
    assert stats.deleted == 0
    assert stats.refused is not None
    assert "max_delete_share 10 %" in stats.refused
    with bridge.store.transaction() as s:
        assert s.scalars(select(BindingRow).where(BindingRow.state == "tombstone", BindingRow.model == "ticket")).all() == []


def test_an_update_the_incremental_pass_missed_is_repaired(emulator: Emulator, bridge: App) -> None:
    key = live_keys(emulator)[0]
    emulator.update(DOC, key, {"Тема": "Изменено вне окна"})
    with bridge.store.transaction() as s:  # pretend the pass had already moved past this key
        s.scalars(select(BindingRow).where(BindingRow.remote_id == key)).one().remote_version = "stale"
    stats = reconcile_model(bridge, "demo-1c", "ticket", NOW)
    assert stats.repaired == 1
    with bridge.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == key)).one()
        assert s.get(TicketRow, binding.local_id).subject == "Изменено вне окна"  # type: ignore[union-attr]


def test_reconcile_trims_run_records_past_their_keeping_time(bridge: App) -> None:
    old, recent, running = NOW - timedelta(days=31), NOW - timedelta(days=29), NOW - timedelta(days=40)
    with bridge.store.transaction() as s:
        s.add_all([SyncRunRow(backend="demo-1c", kind="import", started=old, finished=old, status="ok"),
                   SyncRunRow(backend="demo-1c", kind="import", started=recent, finished=recent, status="failed"),
                   SyncRunRow(backend="demo-1c", kind="import", started=running, status="running")])
    assert trim_runs(bridge, NOW) == 1  # the default keeps 30 days
    with bridge.store.transaction() as s:
        kept = {r.started for r in s.scalars(select(SyncRunRow))}
    assert old not in kept
    assert {recent, running} <= kept


def test_a_listing_of_many_pages_is_compared_page_by_page_and_keeps_only_fingerprints(
    emulator: Emulator, tmp_path: Path
) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    scan_page_size: 7\n", clock=lambda: NOW)
    try:
        app.upgrade_db()
        app.run_job("sync.pull")
        keys = sorted(live_keys(emulator))
        gone, edited = keys[3], keys[-2]  # on the first page and on the last
        delete_in_1c(emulator, [gone])
        emulator.update(DOC, edited, {"Тема": "Изменено вне окна"})
        with app.store.transaction() as s:
            s.scalars(select(BindingRow).where(BindingRow.remote_id == edited)).one().remote_version = "stale"
        template = emulator.get(DOC, keys[0])
        assert template is not None
        created = app.backend("demo-1c").client.post(DOC, {  # behind the cursor: no pass has seen it
            "Date": "2026-11-20T11:00:00", "Партнер_Key": template["Партнер_Key"], "Тема": "Создано в 1С"})
        stats = reconcile_model(app, "demo-1c", "ticket", NOW)
        assert (stats.listed, stats.repaired, stats.deleted, stats.refused) == (len(keys), 2, 1, None)
        with app.store.transaction() as s:
            states = {b.remote_id: b.state for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))}
            assert (states[gone], states[created["Ref_Key"]]) == ("tombstone", "active")
            assert sum(state == "active" for state in states.values()) == len(keys)
            subjects = {t.subject for t in s.scalars(select(TicketRow))}
            assert {"Изменено вне окна", "Создано в 1С"} <= subjects
        again = reconcile_model(app, "demo-1c", "ticket", NOW)
        assert (again.repaired, again.deleted) == (0, 0)  # nothing left to repair
    finally:
        app.close()
