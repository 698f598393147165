"""`crm-bridge status` as an operator reads it: golden files of a healthy and of a
troubled store (a fixed `now`, an 80-column terminal), the exit code a monitoring check
pages on, and `--json` carrying the same problems with the commands that act on them.

The golden files live in tests/fixtures/status/; after an intended change, regenerate them
with ``UPDATE_GOLDEN=1 pytest tests/acceptance/test_status_cli.py`` and read the diff.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

import crm_bridge.cli.status
from adapters.onec.cli import demo_config
from crm_bridge.app import App, FrozenClock
from crm_bridge.cli.status import status
from crm_bridge.status import NEEDS_A_PERSON
from crm_bridge.store.tables import TeamRow, TicketRow
from notify.tables import NotificationRow
from routing.tables import RoutingQueueRow
from sla.tables import SlaClockRow, SlaQueueRow
from sync.deletes import held_message
from sync.hold import HOLD_AT_MOST
from sync.quarantine import QuarantineRow
from sync.tables import BindingRow, ConflictRow, OutboxRow, SyncRunRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 9, 15, 0, tzinfo=MSK)
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "status"
BACKEND = "demo-1c"
GUID = "6f1c0a52-3b1e-11ef-9c4e-0022642fda98"


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def seed_healthy(bridge: App) -> list[int]:
    """25 requests bound, one clean cycle two minutes ago, the SLA clocks running."""
    bridge.upgrade_db()
    with bridge.store.transaction() as s:
        team = TeamRow(name="L1")
        s.add(team)
        s.flush()
        ids = []
        for n in range(25):
            t = TicketRow(number=f"CRM-{290 + n:07d}", subject="Не печатается счёт", type="technical_problem",
                          priority="normal", channel="phone", source="external", status="new", team_id=team.id,
                          tags=[], created_at=ago(hours=n))
            s.add(t)
            s.flush()
            ids.append(t.id)
            s.add(BindingRow(backend=BACKEND, model="ticket", local_id=t.id, remote_id=f"{n:08d}-0000-0000-0000-000000000000",
                             state="active"))
            s.add(SlaClockRow(ticket_id=t.id, policy="everything else",
                              state=("on_track", "on_track", "warning", "breached", "paused")[n % 5]))
        s.add_all([
            SyncRunRow(backend=BACKEND, kind="import", started=ago(minutes=3), finished=ago(minutes=2), status="ok",
                       read=25, created_count=25),
            SyncRunRow(backend=BACKEND, kind="export", started=ago(minutes=2), finished=ago(minutes=2), status="ok",
                       read=25, updated_count=25),
            SyncRunRow(backend=BACKEND, kind="reconcile", started=ago(minutes=40), finished=ago(minutes=39),
                       status="ok", read=25),
        ])
        s.add_all([OutboxRow(backend=BACKEND, model="ticket", local_id=i, identity_key=f"k{i}", fields={"resolution_due": 1},
                             origin="sla", state="sent", sent_at=ago(minutes=2)) for i in ids])
    return ids


def seed_troubled(bridge: App) -> None:
    """The healthy store, then: an import that failed holding deletions, an export that
    parked a row, a conflict, a quarantined record, requests waiting for an agent, a mail
    parked."""
    ids = seed_healthy(bridge)
    with bridge.store.transaction() as s:
        s.add_all([
            SyncRunRow(backend=BACKEND, kind="import", started=ago(minutes=1), finished=ago(seconds=50), status="failed",
                       read=30, updated_count=2, error=held_message(BACKEND, "ticket", 12, 0, 25, 0.1)),
            SyncRunRow(backend=BACKEND, kind="export", started=ago(seconds=40), finished=ago(seconds=30), status="failed",
                       read=1, failed=1, error="1C stored 'Решен' for СостояниеSLA (sent 'Решено')"),
        ])
        s.add(OutboxRow(backend=BACKEND, model="ticket", local_id=ids[5], identity_key="parked", fields={"sla_state": 1},
                        origin="sla", state="parked", attempts=1, last_error="1C stored 'Решен' for СостояниеSLA"))
        s.add(OutboxRow(backend=BACKEND, model="ticket", local_id=ids[6], identity_key="retry", fields={"sla_state": 1},
                        origin="sla", state="pending", attempts=2, last_error="503"))
        s.add(ConflictRow(backend=BACKEND, model="ticket", local_id=ids[3], remote_id=GUID, field="subject",
                          base={"value": "a"}, local={"value": "b"}, remote={"value": "c"}, created=ago(minutes=5)))
        s.add(QuarantineRow(backend=BACKEND, model="ticket", remote_id=GUID, stage="read",
                            reason=f"ticket {GUID}: Date: '2026-13-45T25:61:00' is not a valid date and time",
                            raw=json.dumps({"Ref_Key": GUID, "Number": "CRM-0000777", "Date": "2026-13-45T25:61:00"}),
                            first_seen=ago(hours=1), last_seen=ago(minutes=1)))
        for n, i in enumerate(ids[:2]):
            s.add(RoutingQueueRow(ticket_id=i, queued=ago(hours=2 - n), tried=ago(minutes=1),
                                  reason="everybody in L1 is away (Иванова Анна: leave until 14 Dec)"))
        s.add(NotificationRow(event_key=f"ack/{ids[0]}", event="acknowledgement", ticket_id=ids[0], recipient="a@example.ru",
                              audience="customer", language="ru", timezone="Europe/Moscow", message_id="<m1@x>",
                              state="parked", reason="550 mailbox unavailable"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(demo_config("http://127.0.0.1:9/base/odata/standard.odata/", tmp_path / "store.db"), encoding="utf-8")
    return path


def open_at(config: Path, now: datetime = NOW) -> App:
    bridge = App.from_file(config)
    bridge.clock = FrozenClock(now)
    return bridge


@pytest.fixture
def cli(config: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``crm-bridge status`` in this process against the seeded store at NOW."""
    monkeypatch.setattr(crm_bridge.cli.status, "open_app", lambda: open_at(config))
    command = typer.Typer()
    command.command()(status)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(command, list(args), env={"COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"})

    return run


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    normal = "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(normal, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), normal.splitlines(keepends=True),
                                        str(path), "rendered now"))
    assert not diff, f"status differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n{diff}"


def seeded(config: Path, seed: Any) -> None:
    bridge = open_at(config)
    try:
        seed(bridge)
    finally:
        bridge.close()


def test_a_healthy_store_exits_0_and_says_nothing_needs_a_person(config: Path, cli: Any) -> None:
    seeded(config, seed_healthy)
    done = cli()
    assert done.exit_code == 0, done.output
    check_golden("healthy.txt", done.stdout)
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    data = json.loads(cli("--json").stdout)
    assert (data["ok"], data["problems"]) == (True, [])
    assert data["sla"]["clocks"] == {"on_track": 10, "warning": 5, "breached": 5, "paused": 5}
    [backend] = data["backends"]
    assert (backend["import"]["status"], backend["import"]["lag_seconds"]) == ("ok", 120)


def test_a_troubled_store_exits_1_naming_each_reason_with_its_command(config: Path, cli: Any) -> None:
    seeded(config, seed_troubled)
    done = cli()
    assert done.exit_code == NEEDS_A_PERSON == 1, done.output
    check_golden("troubled.txt", done.stdout)
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    data = json.loads((shown := cli("--json")).stdout)
    assert shown.exit_code == 1
    assert data["ok"] is False
    commands = {p["command"] for p in data["problems"]}
    assert commands == {
        f"crm-bridge sync allow-deletes --backend {BACKEND} --model ticket",  # the held deletions
        "crm-bridge jobs list --state parked",  # the failed export and its parked row
        "crm-bridge conflicts list",
        f"crm-bridge quarantine list --backend {BACKEND}",
        "crm-bridge notify log",
    }
    [backend] = data["backends"]
    assert backend["deletions_held"] == ["held 12 deletions of ticket (48 % of 25 > max_delete_share 10 %)"]
    assert (backend["outbox"]["parked"], backend["outbox"]["retrying"], backend["conflicts"]) == (1, 1, 1)
    assert backend["quarantine"] == {"held": 1, "notes": 0}
    assert backend["import"]["lag_seconds"] == 120  # the last good import, not the failed one
    [queue] = data["routing"]["teams"]
    assert (queue["team"], queue["queued"], queue["oldest"]) == ("L1", 2, "CRM-0000290")
    assert data["notify"]["mails"]["parked"] == 1


def test_the_lists_name_requests_by_their_crm_numbers_and_keep_the_ids_in_json(config: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import crm_bridge.cli.common
    import sync.cli
    from sync.cli import conflicts_app, jobs_app
    from sync.quarantine_cli import quarantine_app

    seeded(config, seed_troubled)
    monkeypatch.setattr(sync.cli, "open_app", lambda: open_at(config))
    monkeypatch.setattr(crm_bridge.cli.common, "open_app", lambda: open_at(config))
    runner = CliRunner()

    def run(app: typer.Typer, *args: str) -> Any:
        done = runner.invoke(app, list(args), env={"COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"})
        assert done.exit_code == 0, done.output
        return done.stdout

    assert "request CRM-0000295" in " ".join(run(jobs_app, "list", "--state", "parked").split())
    [job] = json.loads(run(jobs_app, "list", "--state", "parked", "--json"))
    assert (job["number"], job["record"], job["model"]) == ("CRM-0000295", "request CRM-0000295", "ticket")
    assert isinstance(job["local_id"], int)  # the ids stay for scripts
    assert "request CRM-0000293" in " ".join(run(conflicts_app, "list").split())
    [conflict] = json.loads(run(conflicts_app, "list", "--json"))
    assert (conflict["number"], conflict["remote_id"]) == ("CRM-0000293", GUID)
    assert "request CRM-0000777" in " ".join(run(quarantine_app, "list").split())  # from the raw value 1C sent
    [entry] = json.loads(run(quarantine_app, "list", "--json"))
    assert (entry["number"], entry["remote_id"]) == ("CRM-0000777", GUID)


def seed_held(bridge: App) -> tuple[int, int]:
    """The healthy store, then two rows pending a minute old: one held while its request is
    queued for its SLA plan (``sync.hold``), one free (its request is not queued)."""
    ids = seed_healthy(bridge)
    with bridge.store.transaction() as s:
        s.add(SlaQueueRow(ticket_id=ids[7], token=1, queued=ago(minutes=1)))
        held, free = (OutboxRow(backend=BACKEND, model="ticket", local_id=i, identity_key=f"new-{i}",
                                fields={"sla_state": 1}, origin="sync", state="pending", created=ago(minutes=1),
                                next_attempt_at=ago(minutes=1)) for i in (ids[7], ids[8]))
        s.add_all([held, free])
        s.flush()
        return held.id, free.id


def test_a_row_held_for_its_sla_plan_is_shown_held_with_why_and_until_when(config: Path, cli: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.cli
    from sync.cli import jobs_app

    bridge = open_at(config)
    try:
        held_id, free_id = seed_held(bridge)
    finally:
        bridge.close()
    until = ago(minutes=1) + HOLD_AT_MOST  # 15:04 in Moscow, 12:04 UTC

    done = cli()
    assert done.exit_code == 0, done.output  # held is not stuck: nothing needs a person
    lines = done.stdout.splitlines()
    at = next(n for n, line in enumerate(lines) if "outbox" in line)
    cells = [lines[at].split("│")[2]] + [line.split("│")[2] for line in itertools.takewhile(
        lambda line: not line.split("│")[1].strip(), lines[at + 1:])]  # the value wrapped under its label
    assert " ".join(" ".join(cells).split()) == (
        "2 pending (0 retrying, 1 held until 15:04 at most: waits for its SLA plan), 0 parked, 25 sent")
    [backend] = json.loads(cli("--json").stdout)["backends"]
    assert (backend["outbox"]["pending"], backend["outbox"]["held"]) == (2, 1)
    [hold] = backend["outbox"]["holds"]
    assert (hold["why"], hold["rows"], datetime.fromisoformat(hold["until"])) == ("waits for its SLA plan", 1, until)

    monkeypatch.setattr(sync.cli, "open_app", lambda: open_at(config))
    runner = CliRunner()

    def jobs(*args: str) -> str:
        done = runner.invoke(jobs_app, ["list", "--state", "pending", *args],
                             env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"})
        assert done.exit_code == 0, done.output
        return done.stdout

    lines = jobs().splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith(f"│ {held_id} "))
    assert [cell.strip() for cell in lines[first].split("│")[4:6]] == ["held, 0 tries", "waits for its SLA plan"]
    assert lines[first + 1].split("│")[4].strip() == "until 2026-12-09 15:04 at most"
    [free] = [line for line in lines if line.startswith(f"│ {free_id} ")]
    assert free.split("│")[4].strip() == "pending, 0 tries"
    rows = {r["id"]: r for r in json.loads(jobs("--json"))}
    assert rows[held_id]["state"] == rows[free_id]["state"] == "pending"  # the store's state, unchanged
    assert rows[held_id]["held"]["why"] == "waits for its SLA plan"
    assert datetime.fromisoformat(rows[held_id]["held"]["until"]) == until
    assert rows[free_id]["held"] is None

    # HOLD_AT_MOST after the row was made, the dispatch sends it whatever the planner does
    monkeypatch.setattr(sync.cli, "open_app", lambda: open_at(config, until))
    assert all(r["held"] is None for r in json.loads(jobs("--json")))


@pytest.mark.parametrize("driver_says", ["no such column: sync_runs.stream",  # SQLite
                                         "column sync_runs.stream does not exist"])  # PostgreSQL
def test_a_store_older_than_the_code_is_told_to_run_db_upgrade(driver_says: str) -> None:
    from sqlalchemy.exc import OperationalError

    from crm_bridge.cli import _store_problem

    said = _store_problem(OperationalError("SELECT sync_runs.stream", {}, Exception(driver_says)))
    assert said == f"{driver_says}: the store's schema is older than this crm-bridge; run crm-bridge db upgrade"
