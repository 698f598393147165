"""The mass-delete guard on every deletion path, against the 1C emulator over HTTP:
deletion marks met by an incremental version scan and by an exchange-plan package are
held over ``max_delete_share`` (the records stay as they were, the run fails saying so)
and applied by the next pass once an operator allowed them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow
from sync.deletes import allow
from sync.engine import pull
from sync.tables import BindingRow, CheckpointRow, SyncRunRow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  allow_delete=True) as emu:
        yield emu


def open_bridge(emulator: Emulator, db: Path, extra: str = "") -> App:
    app = App.from_text(demo_config(emulator.base_url, db) + extra, clock=lambda: NOW)
    app.upgrade_db()
    return app


def sync(app: App) -> dict[str, Any]:
    result: dict[str, Any] = pull(app, NOW)["demo-1c"]
    return result


def mark_deleted(emulator: Emulator, app: App, count: int) -> list[str]:
    """Mark `count` requests for deletion in 1C over OData, as a user would."""
    docs = [d for d in emulator.records(DOC) if not d["DeletionMark"]][:count]
    client = app.backend("demo-1c").client
    for doc in docs:
        if doc["Posted"]:
            client.unpost_document(DOC, doc["Ref_Key"])  # 1C refuses to mark a posted document
        client.patch(DOC, doc["Ref_Key"], {"DeletionMark": True})
    return [str(d["Ref_Key"]) for d in docs]


def states(app: App, keys: list[str]) -> dict[str, tuple[str, bool]]:
    with app.store.transaction() as s:
        return {b.remote_id: (b.state, bool(s.get(TicketRow, b.local_id).deleted))  # type: ignore[union-attr]
                for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.remote_id.in_(keys)))}


def last_import_error(app: App) -> str | None:
    with app.store.transaction() as s:
        return s.scalars(select(SyncRunRow.error).where(SyncRunRow.kind == "import").order_by(SyncRunRow.id.desc())).first()


def test_mass_deletion_marks_are_held_by_a_version_scan_until_allowed(emulator: Emulator, tmp_path: Path) -> None:
    app = open_bridge(emulator, tmp_path / "s.db")
    try:
        sync(app)
        sync(app)  # from now on the version scan
        active = len(emulator.records(DOC))
        keys = mark_deleted(emulator, app, 10)
        result = sync(app)
        expected = (f"held 10 deletions of ticket ({round(1000 / active)} % of {active} > max_delete_share 10 %); "
                    "confirm with crm-bridge sync allow-deletes --backend demo-1c --model ticket")
        assert result["error"] == expected
        assert last_import_error(app) == expected  # what `crm-bridge status` shows
        assert set(states(app, keys).values()) == {("active", False)}
        assert "error" in sync(app)  # held again, not forgotten behind the checkpoint
        assert set(states(app, keys).values()) == {("active", False)}
        with app.store.transaction() as s:
            allow(s, "demo-1c", "ticket", None, NOW)
        result = sync(app)
        assert "error" not in result
        assert result["ticket"]["updated"] == 10
        assert set(states(app, keys).values()) == {("tombstone", True)}
        assert last_import_error(app) is None
    finally:
        app.close()


def test_an_allowance_is_spent_once(emulator: Emulator, tmp_path: Path) -> None:
    app = open_bridge(emulator, tmp_path / "s.db")
    try:
        sync(app)
        sync(app)
        with app.store.transaction() as s:
            allow(s, "demo-1c", "ticket", 5, NOW)
        first = mark_deleted(emulator, app, 5)
        assert "error" not in sync(app)
        assert set(states(app, first).values()) == {("tombstone", True)}
        later = mark_deleted(emulator, app, 5)
        assert "held 5 deletions of ticket" in sync(app)["error"]
        assert set(states(app, later).values()) == {("active", False)}
    finally:
        app.close()


def test_a_single_deletion_of_a_small_base_goes_through(emulator: Emulator, tmp_path: Path) -> None:
    app = open_bridge(emulator, tmp_path / "s.db")
    try:
        sync(app)
        sync(app)
        [key] = mark_deleted(emulator, app, 1)
        assert "error" not in sync(app)
        assert states(app, [key]) == {key: ("tombstone", True)}
    finally:
        app.close()


def test_exchange_plan_deletions_over_the_share_leave_the_package_unacknowledged(emulator: Emulator,
                                                                                tmp_path: Path) -> None:
    app = open_bridge(emulator, tmp_path / "s.db", "    change_detection: exchange_plan\n")
    try:
        sync(app)  # the initial scan
        marked = mark_deleted(emulator, app, 6)
        client = app.backend("demo-1c").client
        gone = [str(d["Ref_Key"]) for d in emulator.records(DOC) if not d["DeletionMark"]][:4]
        for key in gone:
            client.delete(DOC, key)
        result = sync(app)
        assert "held 10 deletions of ticket" in result["error"]
        assert "not acknowledged" in result["error"]
        assert result["feed"]["acknowledged"] is None
        assert set(states(app, marked + gone).values()) == {("active", False)}
        with app.store.transaction() as s:
            position = s.scalars(select(CheckpointRow.value).where(CheckpointRow.stream.like("feed:%"))).one()["position"]
            allow(s, "demo-1c", "ticket", None, NOW)
        result = sync(app)
        assert "error" not in result
        assert result["feed"]["acknowledged"] == position + 1  # the same package, read again
        assert result["feed"]["deleted"] == 10
        assert set(states(app, marked + gone).values()) == {("tombstone", True)}
    finally:
        app.close()


def test_an_operator_sees_the_hold_and_allows_it_from_the_command_line(emulator: Emulator, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    cli = [sys.executable, "-m", "crm_bridge", "-c", str(config)]
    assert subprocess.run([*cli, "run", "--once"], capture_output=True, text=True).returncode == 0
    app = App.from_file(config)
    try:
        keys = mark_deleted(emulator, app, 10)
    finally:
        app.close()
    held = subprocess.run([*cli, "run", "--once"], capture_output=True, text=True, env={"COLUMNS": "300", "PATH": ""})
    assert held.returncode != 0, held.stdout
    assert "held 10 deletions of ticket" in held.stdout + held.stderr
    status = json.loads(subprocess.run([*cli, "status", "--json"], capture_output=True, text=True, check=False).stdout)
    assert "held 10 deletions of ticket" in json.dumps(status, ensure_ascii=False)
    allowed = subprocess.run([*cli, "sync", "allow-deletes", "--backend", "demo-1c", "--model", "ticket"],
                             capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stderr
    assert subprocess.run([*cli, "run", "--once"], capture_output=True, text=True).returncode == 0
    app = App.from_file(config)
    try:
        assert set(states(app, keys).values()) == {("tombstone", True)}
    finally:
        app.close()
