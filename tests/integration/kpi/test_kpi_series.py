"""The dashboard's series in SQL: requests opened per day (midnight in the configured zone,
across the end of DST), the weekly CSAT score and the open requests by age — on SQLite and
PostgreSQL, against counts made by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Integer, literal, select, union_all

from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow
from kpi.period import parse_period
from kpi.series import backlog_ages, days_of, volume_per_day, weekly_csat
from kpi.settings import KpiConfig

BERLIN = ZoneInfo("Europe/Berlin")  # DST ends 25 Oct 2026: that day has 25 hours
NOW = datetime(2026, 10, 28, 12, 0, tzinfo=BERLIN)


def _ticket(n: int, created: datetime, channel: str, status: str = "new", resolved: datetime | None = None) -> TicketRow:
    return TicketRow(number=f"CRM-{n:07d}", subject="x", type="question", priority="normal", channel=channel,
                     source="external", status=status, created_at=created, resolved_at=resolved, tags=[], co_executors=[])


@pytest.fixture
def bridge(store_url: str) -> Iterator[App]:
    app = App.from_text(f'timezone: Europe/Berlin\nstore: {{url: "{store_url}"}}\n')
    app.upgrade_db()
    with app.store.transaction() as s:
        s.add_all([
            _ticket(1, datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN), "email"),  # the 25th, 00:30 CEST
            _ticket(2, datetime(2026, 10, 25, 23, 59, tzinfo=BERLIN), "email"),  # the 25th, 23:59 CET: 25 h later
            _ticket(3, datetime(2026, 10, 26, 0, 0, tzinfo=BERLIN), "phone"),  # midnight: the 26th's
            _ticket(4, NOW - timedelta(hours=2), "phone"),  # 2 h old
            _ticket(5, NOW - timedelta(days=10), "email", "resolved", NOW - timedelta(days=1)),
        ])
    yield app
    app.close()


def test_requests_opened_per_day_count_in_the_configured_zone(bridge: App):
    period = parse_period("2026-10-24..2026-10-28", BERLIN, NOW)
    with bridge.store.transaction() as s:
        days = volume_per_day(s, period, BERLIN, KpiConfig())
    assert days == [(date(2026, 10, 24), {}), (date(2026, 10, 25), {"email": 2}), (date(2026, 10, 26), {"phone": 1}),
                    (date(2026, 10, 27), {}), (date(2026, 10, 28), {"phone": 1})]


def test_the_open_requests_by_age(bridge: App):
    with bridge.store.transaction() as s:
        ages = backlog_ages(s, NOW)
    # 2 h; two of about 2 d 12 h (1-3 days); one of 3 d 12 h (3-7 days); the resolved one is not open
    assert ages == [(4, 1), (24, 0), (72, 2), (168, 1), (None, 0)]


def test_the_open_requests_by_age_at_a_past_instant_count_one_resolved_since(bridge: App):
    with bridge.store.transaction() as s:
        ages = backlog_ages(s, NOW - timedelta(days=2), past=True)  # 26 Oct 12:00: the dashboard's period ending then
    # 12 h and 12 h (the two opened around midnight on the 25th/26th), 36.5 h (00:30 CEST on the
    # 25th); the one resolved yesterday was open then, 8 days old; the one 2 h old did not exist
    assert ages == [(4, 0), (24, 2), (72, 1), (168, 0), (None, 1)]


def test_the_weekly_csat_score_by_the_week_each_request_was_resolved(bridge: App):
    with bridge.store.transaction() as s:
        resolved = s.scalar(select(TicketRow.id).where(TicketRow.number == "CRM-0000005"))
        other = s.scalar(select(TicketRow.id).where(TicketRow.number == "CRM-0000001"))

    def source() -> object:  # one answered survey (4) of the resolved request, one unanswered of an open one
        return union_all(select(literal(resolved).label("ticket_id"), literal(4).label("rating")),
                         select(literal(other).label("ticket_id"), literal(None, Integer).label("rating"))).subquery()

    period = parse_period("2026-10-12..2026-10-28", BERLIN, NOW)
    with bridge.store.transaction() as s:
        weeks = weekly_csat(s, period, BERLIN, KpiConfig(), source)  # type: ignore[arg-type]
    assert [w for w, *_ in weeks] == [date(2026, 10, 12), date(2026, 10, 19), date(2026, 10, 26)]
    assert weeks[-1][1:] == (1, 1, 4.0)  # resolved on the 27th
    assert weeks[0][1:] == (0, 0, None)


def test_days_of_a_period_clip_to_it_and_weeks_start_on_monday():
    period = parse_period("2026-10-21..2026-10-22", BERLIN, NOW)  # a Wednesday and Thursday
    assert [d for d, _, _ in days_of(period, BERLIN)] == [date(2026, 10, 21), date(2026, 10, 22)]
    (week, start, end), = days_of(period, BERLIN, step_days=7)
    assert week == date(2026, 10, 19)
    assert (start, end) == (period.start, period.end)
