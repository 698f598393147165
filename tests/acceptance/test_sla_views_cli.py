"""`crm-bridge sla policies | list | explain` as a supervisor reads them: golden files of
the text (a fixed `now`, a fixed terminal width) and the behaviour of lookups and filters.

The golden files live in tests/fixtures/sla_views/; after an intended change of a view,
regenerate them with ``UPDATE_GOLDEN=1 pytest tests/acceptance/test_sla_views_cli.py`` and
read the diff before committing it.
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import sla.cli
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TeamRow, TicketEventRow, TicketRow
from sla.cli import sla_app
from sla.engine import plan_many

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 9, 15, 0, tzinfo=MSK)  # a Wednesday
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "sla_views"
WIDTH = "200"

CONFIG = """
timezone: Europe/Moscow
store: {{url: "sqlite:///{db}"}}
sla:
  calendars:
    office:
      timezone: Europe/Moscow
      week: {{mon: ["09:00-13:00", "14:00-18:00"], tue: ["09:00-13:00", "14:00-18:00"], wed: ["09:00-13:00", "14:00-18:00"],
             thu: ["09:00-13:00", "14:00-18:00"], fri: ["09:00-13:00", "14:00-18:00"]}}
      include: [ru-production]
    24x7: {{timezone: Europe/Moscow, week: 24x7}}
  policies:
    - name: gold contract
      match: {{contract: ["ДС-2026/17"], when: "channel == 'email' or 'vip' in tags"}}
      calendar: 24x7
      targets: {{first_response: 15m, next_response: 1h, resolution: {{urgent: 4h, high: 8h, normal: 16h}}}}
      valid: {{from: 2026-01-01, to: 2026-12-31}}
      warn: {{share: 0.75, before: 30m}}
      escalations:
        - {{after: 0m, action: notify_supervisor}}
        - {{after: 2h, action: reassign, team: L2}}
        - {{after: 4h, action: raise_priority}}
    - name: urgent
      match: {{type: [urgent]}}
      calendar: 24x7
      targets: {{first_response: 30m, resolution: 4h}}
      escalations: [{{after: 0m, action: notify_supervisor}}]
    - name: technical problem
      match: {{type: [technical_problem]}}
      calendar: office
      targets: {{first_response: 2h, resolution: {{urgent: 8h, high: 16h, normal: 24h, low: 40h}}}}
      warn: {{share: 0.75, before: 1h}}
    - name: old contract
      match: {{contract: ["ДС-2025/03"]}}
      calendar: office
      targets: {{resolution: 48h}}
      valid: {{to: 2025-12-31}}
      pause_on: []
    - name: everything else
      calendar: office
      targets: {{first_response: 4h, resolution: 48h}}
"""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=MSK)


# number, subject, type, priority, channel, opened, team, assignee, contract, status changes (instant, status)
REQUESTS: list[tuple[Any, ...]] = [
    ("CRM-0000288", "Не печатается счёт", "technical_problem", "normal", "phone", at(1, 10), "L1", "Иванова Анна", None,
     [(at(1, 10, 20), "in_progress"), (at(2, 12), "resolved")]),
    ("CRM-0000292", "Не проходит обмен с банком: ошибка сертификата при отправке платёжки", "technical_problem", "high",
     "email", at(7, 10, 56), "L1", "Иванова Анна", None,
     [(at(7, 11, 30), "in_progress"), (at(7, 16), "waiting_customer"), (at(8, 10), "in_progress")]),
    ("CRM-0000293", "Как выгрузить отчёт в Excel", "consultation", "normal", "chat", at(8, 9, 30), "L2", None, None,
     [(at(8, 9, 45), "in_progress"), (at(8, 11), "waiting_customer")]),
    ("CRM-0000301", "Не работает вход", "urgent", "urgent", "phone", at(9, 13, 10), "L2", "Petrov Ivan", None, []),
    ("CRM-0000310", "Счёт-фактура не ушла в ЭДО", "other", "normal", "email", at(8, 23, 30), "L2", "Petrov Ivan",
     "ДС-2026/17", [(at(8, 23, 40), "in_progress")]),
]


def seed(bridge: App) -> None:
    bridge.upgrade_db()
    with bridge.store.transaction() as s:
        teams = {name: TeamRow(name=name) for name in ("L1", "L2")}
        s.add_all(teams.values())
        s.flush()
        agents = {"Иванова Анна": AgentRow(name="Иванова Анна", email="anna@example.ru", team_id=teams["L1"].id),
                  "Petrov Ivan": AgentRow(name="Petrov Ivan", email="Petrov@Example.ru", team_id=teams["L2"].id)}
        s.add_all(agents.values())
        s.flush()
        ids = []
        for number, subject, kind, priority, channel, opened, team, agent, contract, changes in REQUESTS:
            status = changes[-1][1] if changes else "new"
            ticket = TicketRow(number=number, subject=subject, type=kind, priority=priority, channel=channel, source="external",
                               status=status, team_id=teams[team].id, assignee_id=agents[agent].id if agent else None,
                               contract=contract, tags=[], created_at=opened,
                               resolved_at=next((t for t, st in changes if st == "resolved"), None))
            s.add(ticket)
            s.flush()
            ids.append(ticket.id)
            s.add(TicketEventRow(ticket_id=ticket.id, kind="created", at=opened, origin="test",
                                 data={"status": "new", "priority": priority, "type": kind}))
            previous = "new"
            for instant, new in changes:
                s.add(TicketEventRow(ticket_id=ticket.id, kind="status_changed", at=instant, origin="test",
                                     data={"from": previous, "to": new}))
                previous = new
        unit = bridge.bus.unit(s, NOW, bridge.config)
        plan_many(unit, ids)
        unit.complete()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db"), encoding="utf-8")
    bridge = App.from_file(path)
    try:
        seed(bridge)
    finally:
        bridge.close()
    return path


@pytest.fixture
def cli(config: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``crm-bridge sla ...`` in this process against the seeded store at NOW."""

    def open_app() -> App:
        bridge = App.from_file(config)
        bridge.clock = FrozenClock(NOW)
        return bridge

    monkeypatch.setattr(sla.cli, "open_app", open_app)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(sla_app, list(args), env={"COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1"})

    return run


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    lines = [line.rstrip() for line in text.splitlines()]
    normal = "\n".join(lines).strip("\n") + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(normal, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), normal.splitlines(keepends=True),
                                        str(path), "rendered now"))
    assert not diff, f"the view differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n{diff}"


# -- golden files ---------------------------------------------------------------------------
def test_policies_read_as_conditions_and_business_durations(cli: Any) -> None:
    done = cli("policies")
    assert done.exit_code == 0, done.output
    check_golden("policies.txt", done.stdout)
    for python_repr in ("['", "Match(", "P2D", "timedelta", "PT"):
        assert python_repr not in done.stdout


def test_list_orders_requests_by_their_nearest_due_time(cli: Any) -> None:
    done = cli("list")
    assert done.exit_code == 0, done.output
    check_golden("list.txt", done.stdout)


def test_explain_of_a_resumed_request(cli: Any) -> None:
    done = cli("explain", "CRM-0000292")
    assert done.exit_code == 0, done.output
    check_golden("explain_resumed.txt", done.stdout)


def test_explain_of_a_paused_request(cli: Any) -> None:
    done = cli("explain", "CRM-0000293")
    assert done.exit_code == 0, done.output
    check_golden("explain_paused.txt", done.stdout)


def test_explain_of_a_finished_request(cli: Any) -> None:
    done = cli("explain", "CRM-0000288")
    assert done.exit_code == 0, done.output
    check_golden("explain_finished.txt", done.stdout)


def test_explain_of_a_request_counted_round_the_clock_across_midnight(cli: Any) -> None:
    done = cli("explain", "CRM-0000310")
    assert done.exit_code == 0, done.output
    check_golden("explain_24x7.txt", done.stdout)


# -- finding a request ----------------------------------------------------------------------
def test_a_bare_number_is_the_one_request_with_those_digits_and_the_output_says_so(cli: Any) -> None:
    done = cli("explain", "292")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0] == "292 is CRM-0000292, the only request with that number"
    assert "CRM-0000292 Не проходит обмен" in done.stdout


def test_a_bare_number_several_requests_share_is_refused_with_the_candidates(cli: Any, config: Path) -> None:
    bridge = App.from_file(config)
    try:
        with bridge.store.transaction() as s:
            s.add(TicketRow(number="OLD-292", subject="старая заявка", type="other", priority="normal", channel="phone",
                            source="external", status="closed", tags=[], created_at=at(1, 9)))
    finally:
        bridge.close()
    done = cli("explain", "292")
    assert done.exit_code == 1
    assert "2 requests have the number 292: CRM-0000292, OLD-292; give the whole number" in " ".join(done.stderr.split())


def test_a_local_id_is_read_only_through_the_id_option(cli: Any, config: Path) -> None:
    bridge = App.from_file(config)
    try:
        with bridge.store.transaction() as s:
            local = s.scalars(select(TicketRow.id).where(TicketRow.number == "CRM-0000310")).one()
    finally:
        bridge.close()
    by_id = cli("explain", "--id", str(local), "--json")
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.stdout)["request"]["number"] == "CRM-0000310"
    assert cli("explain", str(local)).exit_code == 1  # a bare number is never a local id


def test_an_unknown_number_lists_the_newest_requests_by_creation_and_exits_1(cli: Any) -> None:
    done = cli("explain", "CRM-9999999")
    assert done.exit_code == 1
    assert "no request 'CRM-9999999'" in done.stderr
    listed = [line.split()[0] for line in done.stderr.splitlines() if line.startswith("  CRM-")]
    assert listed == ["CRM-0000301", "CRM-0000310", "CRM-0000293", "CRM-0000292", "CRM-0000288"]  # newest opened first
    assert "opened 09.12.2026 13:10 MSK" in done.stderr


def test_explain_json_periods_add_up_to_the_used_time_of_every_cycle(cli: Any) -> None:
    for number in ("CRM-0000288", "CRM-0000292", "CRM-0000293", "CRM-0000310"):
        story = json.loads(cli("explain", number, "--json").stdout)
        for cycle in story["cycles"]:
            spans = [datetime.fromisoformat(b) - datetime.fromisoformat(a) for a, b in cycle["periods"]]
            assert sum(s.total_seconds() for s in spans) == cycle["used"] == cycle["counted"], (number, cycle["metric"])
            assert cycle["notes"] == []


# -- sla list -------------------------------------------------------------------------------
def listed(cli: Any, *args: str) -> list[str]:
    done = cli("list", "--json", *args)
    assert done.exit_code == 0, done.output
    return [row["number"] for row in json.loads(done.stdout)]


@pytest.mark.parametrize(("args", "numbers"), [
    ((), ["CRM-0000301", "CRM-0000292", "CRM-0000310", "CRM-0000293"]),
    (("--state", "breached"), ["CRM-0000292"]),
    (("--state", "paused,warning"), ["CRM-0000310", "CRM-0000293"]),
    (("--state", "met"), ["CRM-0000288"]),
    (("--breached",), ["CRM-0000301", "CRM-0000292"]),
    (("--due-before", "09.12.2026 15:00"), ["CRM-0000301", "CRM-0000292"]),
    (("--due-before", "1h"), ["CRM-0000301", "CRM-0000292", "CRM-0000310"]),
    (("--team", "L1"), ["CRM-0000292"]),
    (("--team", "L2", "--due-before", "2026-12-10"), ["CRM-0000301", "CRM-0000310"]),
    (("--assignee", "petrov@example.ru"), ["CRM-0000301", "CRM-0000310"]),
    (("--assignee", "Иванова Анна", "--all"), ["CRM-0000288", "CRM-0000292"]),
    (("--limit", "2"), ["CRM-0000301", "CRM-0000292"]),
])
def test_list_filters_select_the_right_requests(cli: Any, args: tuple[str, ...], numbers: list[str]) -> None:
    assert listed(cli, *args) == numbers


def test_list_json_gives_the_time_left_in_business_seconds_with_its_text(cli: Any) -> None:
    rows = {r["number"]: r for r in json.loads(cli("list", "--json").stdout)}
    assert rows["CRM-0000310"]["left"] == {"seconds": 1800.0, "text": "30 min", "measure": "business"}
    assert rows["CRM-0000301"]["first_response"] == "pending"
    assert rows["CRM-0000293"]["left"] is None
    finished = json.loads(cli("list", "--json", "--state", "met").stdout)
    assert finished[0]["left"] is None  # met on 02.12: nothing is "overdue" about it


def test_list_refuses_an_unknown_team_or_state_with_the_closest_name(cli: Any) -> None:
    team = cli("list", "--team", "L3")
    assert team.exit_code == 2
    assert "no team 'L3'." in team.output
    assert "Known: L1, L2" in team.output
    state = cli("list", "--state", "breachd")
    assert state.exit_code == 2
    assert "Did you mean 'breached'?" in state.output


def test_explain_shows_a_cycles_notes_under_it_and_in_json(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sla.clock

    evaluate = sla.clock.evaluate

    def with_notes(*args: Any) -> Any:
        evaluation = evaluate(*args)
        for cycle in evaluation.cycles:
            if cycle.metric == "resolution":
                cycle.notes = ["computed beyond ru-production's data (ends 2026-12-31)"]  # type: ignore[attr-defined]
        return evaluation

    monkeypatch.setattr(sla.clock, "evaluate", with_notes)
    text = cli("explain", "CRM-0000293").stdout
    assert text.index("note: computed beyond ru-production's data (ends 2026-12-31)") > text.index("Resolution #1")
    cycles = json.loads(cli("explain", "CRM-0000293", "--json").stdout)["cycles"]
    assert [c["notes"] for c in cycles] == [[], ["computed beyond ru-production's data (ends 2026-12-31)"]]
