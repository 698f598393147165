"""The dashboard's "SLA breached during the period" list and its counts by team and agent,
read from the SLA ledger on a hand-built store (SQLite and PostgreSQL): breaches in
October, November and December, a stale generation, a deleted request and the period's
edges — the November view lists exactly November's, open or resolved, latest first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_fixtures import MSK, NOW, PASSWORD, H, add_ledger, make_app

from crm_bridge.app import App
from crm_bridge.store.tables import AgentRow, TeamRow, TicketRow
from kpi.period import parse_period
from web.breaches import breaches_in
from web.dashboard import dashboard
from web.i18n import duration_text
from web.schemas import DashboardOut
from web.server import create_app
from web.view import View

PETROV, SIDOROVA = "Петров Пётр", "Сидорова Анна Ивановна"


def _at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=MSK)


def seed_autumn(app: App) -> None:
    """Requests 70-77 with their ledgers (team, assignee, what the ledger says):

    - 70 L1 Петров, resolved: first response breached 20 October (October's);
    - 71 L2 Сидорова, resolved: first response breached 3 November 10:00, met 11:30
      (1 h 30 min late); resolution breached 5 November 18:00, met 6 November (2 h 15 min late);
    - 72 L1 Петров, open: resolution breached 20 November 12:00, not met yet (breached now);
    - 73 L2 Сидорова, resolved: resolution breached 1 December 00:00 Moscow — December's
      first instant, so not November's;
    - 74 L1 Петров, resolved: a breach on 10 November in generation 1 only; `sla recalc`'s
      generation 2 (the newest) has none;
    - 75 L2 nobody, cancelled: resolution breached 1 November 00:00 Moscow (November's first
      instant), then stopped;
    - 76 L1 Петров, deleted: a November breach;
    - 77 L1 Петров, resolved: a breach 31 October 23:59:59 Moscow (October's last second).
    """
    with app.store.transaction() as s:
        teams = {t.name: t.id for t in s.query(TeamRow)}
        agents = {a.name: a.id for a in s.query(AgentRow)}
        for number, team, agent, status, channel, more in (
            ("CRM-0000070", "L1", PETROV, "resolved", "email", {}),
            ("CRM-0000071", "L2", SIDOROVA, "resolved", "phone", {}),
            ("CRM-0000072", "L1", PETROV, "in_progress", "email",
             {"sla_state": "breached", "sla_breached": True, "resolution_due": _at(11, 20, 12)}),
            ("CRM-0000073", "L2", SIDOROVA, "resolved", "email", {}),
            ("CRM-0000074", "L1", PETROV, "resolved", "email", {}),
            ("CRM-0000075", "L2", None, "cancelled", "chat", {}),
            ("CRM-0000076", "L1", PETROV, "resolved", "email", {"deleted": True}),
            ("CRM-0000077", "L1", PETROV, "resolved", "email", {}),
        ):
            s.add(TicketRow(number=number, subject=f"Осень {number[-2:]}", type="technical_problem", priority="normal",
                            channel=channel, source="external", status=status, team_id=teams[team],
                            assignee_id=agents[agent] if agent else None, created_at=_at(10, 1),
                            **{"sla_state": "missed", "tags": [], **more}))
    add_ledger(app, "CRM-0000070", [(1, "first_response", 1, "breach", _at(10, 20, 10), H),
                                    (1, "first_response", 1, "fulfil", _at(10, 20, 11), 2 * H)])
    add_ledger(app, "CRM-0000071", [(1, "first_response", 1, "breach", _at(11, 3, 10), H),
                                    (1, "first_response", 1, "fulfil", _at(11, 3, 11, 30), 2.5 * H),
                                    (1, "resolution", 1, "breach", _at(11, 5, 18), 8 * H),
                                    (1, "resolution", 1, "fulfil", _at(11, 6, 11, 15), 10.25 * H)])
    add_ledger(app, "CRM-0000072", [(1, "resolution", 1, "breach", _at(11, 20, 12), 8 * H)])
    add_ledger(app, "CRM-0000073", [(1, "resolution", 1, "breach", _at(12, 1), 8 * H),
                                    (1, "resolution", 1, "fulfil", _at(12, 2, 10), 9 * H)])
    add_ledger(app, "CRM-0000074", [(1, "resolution", 1, "breach", _at(11, 10, 12), 8 * H),
                                    (1, "resolution", 1, "fulfil", _at(11, 11, 12), 12 * H),
                                    (2, "resolution", 1, "fulfil", _at(11, 11, 12), 7 * H)], generation=2)
    add_ledger(app, "CRM-0000075", [(1, "resolution", 1, "breach", _at(11, 1), 8 * H),
                                    (1, "resolution", 1, "stop", _at(11, 2, 9), 9 * H)])
    add_ledger(app, "CRM-0000076", [(1, "resolution", 1, "breach", _at(11, 15, 12), 8 * H)])
    add_ledger(app, "CRM-0000077", [(1, "resolution", 1, "breach", _at(10, 31, 23, 59, 59), 8 * H)])


@pytest.fixture
def bridge(tmp_path: Path, store_url: str) -> Iterator[App]:
    app = make_app(tmp_path, store=store_url)
    seed_autumn(app)
    try:
        yield app
    finally:
        app.close()


def _view(label: str, **narrow: str) -> View:
    return View(parse_period(label, MSK, NOW), **narrow)


def _listed(board: dict[str, object]) -> list[tuple[str, str, str | None, float | None]]:
    rows = board["breached"]
    assert isinstance(rows, list)
    return [(r["number"], r["metric"], r["ended"], r["late"]) for r in rows]


def test_november_lists_exactly_novembers_breaches_open_or_resolved(bridge: App) -> None:
    board = dashboard(bridge, NOW, _view("2026-11"))
    assert board["breached_in"] == "2026-11"
    assert _listed(board) == [
        ("CRM-0000072", "resolution", None, None),  # still open: no figure until the clock ends
        ("CRM-0000071", "resolution", "fulfil", 2.25 * H),
        ("CRM-0000071", "first_response", "fulfil", 1.5 * H),
        ("CRM-0000075", "resolution", "stop", 1 * H),  # November's first instant counts; cancelled since
    ]
    assert [(r["team"], r["assignee"], r["status"]) for r in board["breached"]] == [
        ("L1", PETROV, "in_progress"), ("L2", SIDOROVA, "resolved"), ("L2", SIDOROVA, "resolved"),
        ("L2", None, "cancelled")]
    assert board["breached"][1]["due"] == _at(11, 5, 18)  # the instant the target was due
    assert board["breached_total"] == 4
    assert [(g["team"], g["assignee"], g["count"], g["requests"], g["numbers"]) for g in board["breached_by"]] == [
        ("L2", SIDOROVA, 2, 1, ["CRM-0000071"]),
        ("L1", PETROV, 1, 1, ["CRM-0000072"]),
        ("L2", None, 1, 1, ["CRM-0000075"]),
    ]
    DashboardOut.model_validate(board)  # what /api/dashboard publishes


def test_october_and_december_get_their_own_and_their_edges(bridge: App) -> None:
    october, december = dashboard(bridge, NOW, _view("2026-10")), dashboard(bridge, NOW, _view("2026-12"))
    assert [n for n, *_ in _listed(october)] == ["CRM-0000077", "CRM-0000070"]  # 31 Oct 23:59:59 is October's
    assert [n for n, *_ in _listed(december)] == ["CRM-0000073"]  # 1 Dec 00:00 Moscow is December's
    assert [(g["team"], g["count"]) for g in december["breached_by"]] == [("L2", 1)]


def test_the_team_agent_and_channel_narrow_the_periods_breaches(bridge: App) -> None:
    l2 = dashboard(bridge, NOW, _view("2026-11", team="L2"))
    assert [n for n, *_ in _listed(l2)] == ["CRM-0000071", "CRM-0000071", "CRM-0000075"]
    assert l2["breached_total"] == 3
    petrov = dashboard(bridge, NOW, _view("2026-11", agent=PETROV))
    assert [n for n, *_ in _listed(petrov)] == ["CRM-0000072"]
    assert [(g["assignee"], g["count"]) for g in petrov["breached_by"]] == [(PETROV, 1)]
    phone = dashboard(bridge, NOW, _view("2026-11", channel="phone"))
    assert phone["breached_total"] == 2
    assert dashboard(bridge, NOW, _view("2026-11", channel="web"))["breached_by"] == []


def test_the_list_is_limited_but_the_total_and_counts_are_not(bridge: App) -> None:
    with bridge.store.transaction() as s:
        found = breaches_in(s, parse_period("2026-11", MSK, NOW), limit=2)
    assert [r["number"] for r in found.rows] == ["CRM-0000072", "CRM-0000071"]
    assert found.total == 4
    assert [(g["count"], g["numbers"]) for g in found.by] == [(2, ["CRM-0000071"]), (1, ["CRM-0000072"]), (1, [])]


def test_without_a_period_the_list_is_todays_breached_requests(bridge: App) -> None:
    board = dashboard(bridge, NOW)
    assert board["breached_in"] is None
    assert [r["number"] for r in board["breached"]] == ["CRM-0000072", "CRM-0000043"]  # by due, soonest first
    assert board["breached_total"] == 2
    assert {t["team"]: t["breached"] for t in board["open_by_team"]} == {"L1": 1, "L2": 1}
    DashboardOut.model_validate(board)


@pytest.mark.parametrize(("lang", "words"), [
    ("ru", ["Нарушения SLA за 2026-11 (<span class=\"total\">4</span>)", "2 ч 15 мин", "ещё не выполнено",
            "отменено", "Всегда на текущий момент", "Нарушения SLA за 2026-11: по группам и исполнителям"]),
    ("en", ["SLA breached during 2026-11 (<span class=\"total\">4</span>)", "2 h 15 min", "not met yet",
            "cancelled", "Always as of now", "Late by"]),
])
def test_the_page_says_which_target_was_missed_and_by_how_much(tmp_path: Path, lang: str, words: list[str]) -> None:
    app = make_app(tmp_path)
    seed_autumn(app)
    try:
        client = TestClient(create_app(app))
        form = client.get("/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"login": "lead", "password": PASSWORD, "csrf": csrf, "next": "/dashboard"})
        page = client.get("/dashboard", params={"period": "2026-11"}, headers={"accept-language": lang}).text
    finally:
        app.close()
    breached = page.split('<section class="breached">')[1].split("</section>")[0]
    for text in words:
        assert text in page, text
    assert "CRM-0000070" not in breached  # October's
    assert "CRM-0000073" not in breached  # December's
    assert breached.count('class="target"') == 4


def test_business_durations_read_in_both_languages() -> None:
    assert duration_text(2.25 * H, "ru") == "2 ч 15 мин"
    assert duration_text(8 * H, "en") == "8 h"
    assert duration_text(300, "en") == "5 min"
    assert duration_text(45, "ru") == "45 с"
    assert duration_text(26 * H + 60, "en") == "26 h 01 min"  # business hours are not folded into days
