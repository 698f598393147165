"""The dashboard's period and filters over a real uvicorn on loopback: a plain GET form
whose query string is the view (so a link to it can be shared, even through the login),
the charts, lists and counts narrowed by period, team, agent and channel — each figure
worked out by hand from ``web_fixtures.seed`` and ``seed_december`` — and a wrong period
or name answered with a friendly page in the visitor's language, not a 500."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from web_fixtures import PASSWORD, make_app, seed_december

from web.serve import WebServer


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(tmp_path_factory.mktemp("view"))
    seed_december(app)
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            yield web.url
    finally:
        app.close()


def _logged_in(
    url: str, lang: str = "en", next_: str | None = None
) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    browser.headers["accept-language"] = lang
    form = browser.get(f"{url}{next_ or '/login'}", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    wanted = re.search(r'name="next" value="([^"]*)"', form.text)
    assert csrf
    assert wanted
    answer = browser.post(
        f"{url}/login",
        data={
            "login": "lead",
            "password": PASSWORD,
            "csrf": csrf.group(1),
            "next": html.unescape(wanted.group(1)),
        },
        timeout=10,
    )
    return browser, answer


@pytest.fixture(scope="module")
def lead(url: str) -> requests.Session:
    return _logged_in(url)[0]


def _board(lead: requests.Session, url: str, **query: str) -> dict[str, Any]:
    answer = lead.get(f"{url}/api/dashboard", params=query, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _volume(board: dict[str, Any]) -> dict[str, int]:
    total: dict[str, int] = {}
    for day in board["charts"]["volume"]:
        for channel, n in day["counts"].items():
            total[channel] = total.get(channel, 0) + n
    return total


def test_the_period_moves_every_chart_to_it(lead, url):
    default, december = _board(lead, url), _board(lead, url, period="2026-12")
    assert _volume(default) == {"email": 4}  # the fixture's four, opened yesterday (10 January)
    assert default["view"]["period"] is None
    assert len(december["charts"]["volume"]) == 31
    assert _volume(december) == {"phone": 2, "chat": 1}
    assert december["charts"]["volume"][9]["counts"] == {"phone": 2}  # the 10th
    assert december["view"]["period"] == "2026-12"
    assert (december["view"]["start"], december["view"]["end"]) == (
        "2026-12-01T00:00:00+03:00",
        "2027-01-01T00:00:00+03:00",
    )  # Moscow midnights
    # backlog at December's end: 61 (L2, open) and 62 (L1, closed on 5 January), both > 7 days old
    assert [b["count"] for b in december["charts"]["backlog"]] == [0, 0, 0, 0, 2]
    assert [b["count"] for b in default["charts"]["backlog"]] == [
        0,
        0,
        3,
        0,
        1,
    ]  # now: 42, 43, 50 and 61
    load = {a["agent"]: a["open"] for a in december["charts"]["load"]}
    assert load == {"Петров Пётр": 1, "Сидорова Анна Ивановна": 1}


def test_team_agent_and_channel_narrow_the_charts_and_the_lists(lead, url):
    l2 = _board(lead, url, period="2026-12", team="L2")
    assert _volume(l2) == {"phone": 2}
    assert [b["count"] for b in l2["charts"]["backlog"]] == [0, 0, 0, 0, 1]
    chat = _board(lead, url, period="2026-12", team="L1", channel="chat")
    assert _volume(chat) == {"chat": 1}
    # the lists are today's state of the chosen requests: 43 (L2) is breached, 42 (L1) about to be
    everyone = _board(lead, url)
    assert [r["number"] for r in everyone["breached"]] == ["CRM-0000043"]
    assert [r["number"] for r in everyone["at_risk"]] == ["CRM-0000042"]
    l1 = _board(lead, url, team="L1")
    assert (l1["breached"], l1["breached_by"]) == ([], [])
    assert [r["number"] for r in l1["at_risk"]] == ["CRM-0000042"]
    assert [row["team"] for row in l1["open_by_team"]] == ["L1"]
    assert l1["open_by_team"][0]["total"] == 2  # 42 and 50 (61 is L2's, 44 and 62 closed)
    sidorova = _board(lead, url, agent="Сидорова Анна Ивановна")
    assert [r["number"] for r in sidorova["breached"]] == ["CRM-0000043"]
    assert sidorova["at_risk"] == []
    assert [(g["team"], g["assignee"], g["count"]) for g in sidorova["breached_by"]] == [
        ("L2", "Сидорова Анна Ивановна", 1)
    ]
    assert _board(lead, url, channel="phone")["breached"] == []  # 43 came by e-mail


def test_a_period_lists_the_breaches_during_it_and_counts_them_by_team_and_agent(lead, url):
    december = _board(lead, url, period="2026-12")
    assert december["breached_in"] == "2026-12"
    assert [(r["number"], r["metric"], r["status"], r["late"]) for r in december["breached"]] == [
        ("CRM-0000062", "first_response", "closed", 1800.0),
        ("CRM-0000060", "resolution", "resolved", 8 * 3600.0),
    ]  # latest first; both finished since, neither breached now
    assert december["breached_total"] == 2
    assert [(g["team"], g["assignee"], g["count"]) for g in december["breached_by"]] == [
        ("L1", "Петров Пётр", 1),
        ("L2", "Сидорова Анна Ивановна", 1),
    ]
    l1 = _board(lead, url, period="2026-12", team="L1")
    assert [r["number"] for r in l1["breached"]] == ["CRM-0000062"]
    assert _board(lead, url, period="2026-11")["breached_total"] == 0
    # the open requests' red part is today's breached, whatever the period
    assert {t["team"]: t["breached"] for t in december["open_by_team"]} == {"L1": 0, "L2": 1}


def test_the_page_carries_the_view_in_its_form_links_and_charts(lead, url):
    page = lead.get(f"{url}/dashboard", params={"period": "2026-12", "team": "L2"}, timeout=30).text
    assert '<form method="get" action="/dashboard" class="view">' in page
    assert 'name="period" value="2026-12"' in page
    assert '<option value="L2" selected>L2</option>' in page
    assert "<title>Requests opened per day by channel, 2026-12</title>" in page
    assert 'href="/dashboard?period=2026-12&amp;team=L2" class="share"' in page
    assert 'href="/dashboard?period=last-7d&amp;team=L2"' in page  # a preset keeps the team
    assert (
        "next=%2Fdashboard%3Fperiod%3D2026-12%26team%3DL2" in page
    )  # the language switch keeps the view
    # with a period the breached list is the period's (the ledger): L2's 60, resolved since,
    # not 43, breached now; the about-to-breach list stays "now" and the page says both
    breached = page.split('<section class="breached">')[1].split("</section>")[0]
    assert "SLA breached during 2026-12" in breached
    assert "CRM-0000060" in breached
    assert "CRM-0000043" not in breached
    assert '<td class="late">8 h</td>' in breached
    assert "about to breach, open requests and the queues: as of now" in page
    assert "Always as of now" in page.split('<section class="at_risk">')[1].split("</section>")[0]


@pytest.mark.parametrize(
    ("query", "lang", "words"),
    [
        (
            {"period": "2026-13"},
            "en",
            "&#34;2026-13&#34; is not a period. Type e.g. 2026-11 (a month)",
        ),
        ({"period": "вчера"}, "ru", "Не понимаю период «вчера»"),
        ({"period": "2030"}, "en", "has not started yet"),
        ({"period": "2020-01-01..2026-01-01"}, "ru", "длиннее года"),
        ({"team": "L9"}, "ru", "Группы «L9» нет"),
        ({"agent": "<b>Nobody</b>"}, "en", "There is no agent &#34;&lt;b&gt;Nobody&lt;/b&gt;&#34;"),
    ],
)
def test_a_wrong_view_gets_a_friendly_page_in_the_visitors_language(url, query, lang, words):
    browser, _ = _logged_in(url, lang)
    answer = browser.get(f"{url}/dashboard", params=query, timeout=30)
    assert answer.status_code == 400
    assert words in answer.text
    assert 'role="alert"' in answer.text
    assert "CRM-0000043" in answer.text  # the default view is shown under the message
    api = browser.get(f"{url}/api/dashboard", params=query, timeout=30)
    assert api.status_code == 422
    assert api.json()["value"] == next(iter(query.values()))


def test_a_shared_link_to_a_filtered_view_survives_the_login(url):
    stranger = requests.Session()
    refused = stranger.get(
        f"{url}/dashboard?period=2026-12&team=L2", timeout=10, allow_redirects=False
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == "/login?next=/dashboard%3Fperiod%3D2026-12%26team%3DL2"
    _, landed = _logged_in(url, next_=refused.headers["location"])
    assert landed.url.endswith("/dashboard?period=2026-12&team=L2")
    assert "<title>Requests opened per day by channel, 2026-12</title>" in landed.text
