"""The dashboard's view from its query string (``web.view``): periods in the kpi syntax,
names checked against the store's, the shareable query string, the preset periods."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from web.view import View, ViewProblem, presets, read_view

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 1, 11, 9, 30, tzinfo=MSK)
KNOWN = {"team": ["L1", "L2"], "agent": ["Петров Пётр"], "channel": ["email", "phone"]}


def test_empty_values_mean_the_default_view():
    assert read_view({"period": " ", "team": ""}, KNOWN, MSK, NOW) == View()
    assert View().query() == ""


def test_a_month_and_a_team_read_in_the_configured_zone_and_give_a_shareable_query():
    view = read_view({"period": "2026-12", "team": "L2", "agent": "Петров Пётр"}, KNOWN, MSK, NOW)
    assert view.period is not None
    assert (view.period.start, view.period.end) == (
        datetime(2026, 12, 1, tzinfo=MSK),
        datetime(2027, 1, 1, tzinfo=MSK),
    )
    assert view.filters().given() == {"team": "L2", "agent": "Петров Пётр"}
    assert (
        view.query()
        == "period=2026-12&team=L2&agent=%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2+%D0%9F%D1%91%D1%82%D1%80"
    )


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ({"period": "2026-13"}, "view_bad_period"),
        ({"period": "yesterday"}, "view_bad_period"),
        ({"period": "2027-02"}, "view_future_period"),
        ({"period": "2025-01-01..2026-12-31"}, "view_long_period"),
        ({"team": "L3"}, "view_unknown_team"),
        ({"agent": "Petrov"}, "view_unknown_agent"),
        ({"channel": "fax"}, "view_unknown_channel"),
    ],
)
def test_a_value_the_dashboard_cannot_show_names_its_words_and_keeps_what_was_typed(query, key):
    with pytest.raises(ViewProblem) as caught:
        read_view({**query, "team": query.get("team", "L1")}, KNOWN, MSK, NOW)
    assert caught.value.key == key
    assert caught.value.value == next(iter(query.values()))
    assert caught.value.typed["team"] == query.get("team", "L1")


def test_the_presets_follow_today_in_the_zone():
    assert presets(MSK, NOW)[:6] == ["last-7d", "last-30d", "2027-01", "2026-12", "2027-Q1", "2027"]
