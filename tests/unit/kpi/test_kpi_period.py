"""Report periods as typed, read in the configured zone: edges at local midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kpi.errors import BadPeriod
from kpi.export import duration, shown
from kpi.period import parse_period

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=MSK)


def test_a_month_runs_from_local_midnight_to_local_midnight() -> None:
    p = parse_period("2026-11", MSK, NOW)
    assert p.start == datetime(2026, 11, 1, tzinfo=MSK)
    assert p.end == datetime(2026, 12, 1, tzinfo=MSK)
    assert p.start.astimezone(UTC) == datetime(2026, 10, 31, 21, tzinfo=UTC)


def test_a_quarter_a_year_and_december_roll_over_the_year() -> None:
    q4 = parse_period("2026-Q4", MSK, NOW)
    assert (q4.start, q4.end) == (datetime(2026, 10, 1, tzinfo=MSK), datetime(2027, 1, 1, tzinfo=MSK))
    assert parse_period("2026-12", MSK, NOW).end == datetime(2027, 1, 1, tzinfo=MSK)
    assert parse_period("2026", MSK, NOW).end == datetime(2027, 1, 1, tzinfo=MSK)


def test_a_range_of_days_includes_its_last_day() -> None:
    p = parse_period("2026-11-01..2026-11-15", MSK, NOW)
    assert p.end == datetime(2026, 11, 16, tzinfo=MSK)


def test_last_30_days_ends_now_and_the_backlog_is_read_now() -> None:
    p = parse_period("last-30d", MSK, NOW)
    assert (p.start, p.end) == (NOW - timedelta(days=30), NOW)
    assert parse_period("2026-12", MSK, NOW).cut(NOW) == NOW  # a running month: its state is now's
    assert parse_period("2026-11", MSK, NOW).cut(NOW) == datetime(2026, 12, 1, tzinfo=MSK)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "2026-02-30..2026-03-01", "2026-11-15..2026-11-01", "november",
                                  "last-0d"])
def test_a_wrong_period_names_the_forms_to_use(text: str) -> None:
    with pytest.raises(BadPeriod, match="2026-11-01..2026-11-15") as info:
        parse_period(text, MSK, NOW)
    assert repr(text) in str(info.value)


def test_durations_and_shares_read_as_people_write_them() -> None:
    assert [duration(s) for s in (None, 45 * 60, 5 * 3600 + 20 * 60, 76 * 3600)] == ["—", "45m", "5h 20m", "3d 4h"]
    assert [shown(v, "pct") for v in (None, 1, 0.8, 1 / 3)] == ["—", "100%", "80.0%", "33.3%"]
