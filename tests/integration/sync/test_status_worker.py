"""`crm-bridge status` in worker mode (procrastinate on PostgreSQL) says what the embedded
mode says: it reads the last finished run of every stream from the store, so a stream
still running no longer hides the last import ("last import: running never"), and a
stream that failed is not hidden by another that passed after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

import crm_bridge.cli.status
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.cli.status import status
from crm_bridge.queue import defer_all, prepare_store, run_worker
from sync.tables import SyncRunRow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DAY = "schedule: {pull_every: 86400, dispatch_every: 86400, sla_tick_every: 86400, reconcile_every: 86400}\n"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def status_of(text: str, *args: str, monkeypatch: pytest.MonkeyPatch, at: datetime) -> Any:
    def open_app() -> App:
        return App.from_text(text, clock=lambda: at)

    monkeypatch.setattr(crm_bridge.cli.status, "open_app", open_app)
    command = typer.Typer()
    command.command()(status)
    return CliRunner().invoke(command, list(args), env={"COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"})


def test_worker_mode_status_shows_the_last_run_of_every_stream(emulator: Emulator, pg_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    text = demo_config(emulator.base_url, Path("unused.db")).replace("sqlite:///unused.db", pg_url) + DAY
    app = App.from_text(text, clock=lambda: NOW)
    try:
        prepare_store(app)
        assert defer_all(app, ["sync.pull"]) > 0
        run_worker(app, wait=False)  # the whole cycle, stream by stream, until the queue is empty
        with app.store.transaction() as s:
            streams = s.scalar(select(func.count(func.distinct(SyncRunRow.stream))).where(SyncRunRow.kind == "import"))
            assert streams == 32  # 4 models x 8 partitions, each with its own run record
            # a worker is busy with the next pass of one partition: its run is started, not finished
            s.add(SyncRunRow(backend="demo-1c", kind="import", stream="ticket 3/8", started=NOW + timedelta(minutes=1)))
    finally:
        app.close()

    later = NOW + timedelta(minutes=2)
    done = status_of(text, "--json", monkeypatch=monkeypatch, at=later)
    assert done.exit_code == 0, done.output
    [backend] = json.loads(done.stdout)["backends"]
    imp = backend["import"]
    assert (imp["status"], imp["running"], len(imp["streams"])) == ("ok", 1, 32)
    assert imp["read"] >= 40
    assert imp["lag_seconds"] is not None
    assert backend["export"]["status"] == "ok"
    assert backend["bindings"]["ticket"] > 30  # the requests 1C holds, less those marked deleted
    shown = status_of(text, monkeypatch=monkeypatch, at=later)
    assert shown.exit_code == 0
    line = " ".join(shown.stdout.replace("│", " ").split())  # the table's wrapped cells as one line
    assert "demo-1c import ok 2m ago" in line
    assert "(32 streams); 1 running" in line
    assert "running never" not in line

    # one partition fails; another one passes after it: the failure still shows, and status exits 1
    app = App.from_text(text, clock=lambda: NOW)
    try:
        with app.store.transaction() as s:
            s.add_all([
                SyncRunRow(backend="demo-1c", kind="import", stream="ticket 5/8", started=later, finished=later,
                           status="failed", error="1C did not answer in 10 s"),
                SyncRunRow(backend="demo-1c", kind="import", stream="ticket 6/8", started=later,
                           finished=later + timedelta(seconds=5), status="ok", read=5),
            ])
    finally:
        app.close()
    failed = status_of(text, "--json", monkeypatch=monkeypatch, at=later + timedelta(minutes=1))
    assert failed.exit_code == 1, failed.output
    data = json.loads(failed.stdout)
    assert data["backends"][0]["import"]["status"] == "failed"
    assert [p["reason"] for p in data["problems"]] == ["demo-1c: the last import failed: 1C did not answer in 10 s"]
