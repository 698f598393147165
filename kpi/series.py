"""Time series and buckets for charts (the web dashboard): requests opened per day by a
dimension, the weekly CSAT score, the open requests by age. Computed in SQL like
``kpi.queries``: the days are a small table of ``[start, end)`` instants (midnight in the
configured zone, so a DST change moves no request to the wrong day) joined to the
requests; Python only lays out the few rows per day. Example::

    with bridge.store.transaction() as s:
        days = volume_per_day(s, parse_period("last-14d", zone, now), zone, config)
        days[-1]  # (date(2026, 12, 7), {"email": 4, "phone": 1})
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from crm_bridge.store.types import UTCDateTime
from kpi.figures import CsatSource, Filters
from kpi.period import Period
from kpi.queries import _OPEN, ANY, _requests
from kpi.settings import KpiConfig

__all__ = ["AGE_EDGES", "backlog_ages", "days_of", "volume_per_day", "weeks_of", "weekly_csat"]

#: the open requests' age buckets: under 4 h, 4-24 h, 1-3 days, 3-7 days, over 7 days (hours)
AGE_EDGES = (4, 24, 72, 168)
MAX_SPANS = 400  # days (or weeks) one chart may ask for: a year and more


def days_of(period: Period, zone: tzinfo, *, step_days: int = 1) -> list[tuple[date, datetime, datetime]]:
    """Each day (or week with ``step_days=7``, starting Monday) overlapping `period`, as
    its first date and its ``[start, end)`` in `zone`, clipped to the period. Pure."""
    first = period.start.astimezone(zone).date()
    if step_days == 7:
        first -= timedelta(days=first.weekday())
    out: list[tuple[date, datetime, datetime]] = []
    day = first
    while len(out) < MAX_SPANS:
        start = datetime.combine(day, time(0), tzinfo=zone)
        if start >= period.end:
            break
        end = datetime.combine(day + timedelta(days=step_days), time(0), tzinfo=zone)
        out.append((day, max(start, period.start), min(end, period.end)))
        day += timedelta(days=step_days)
    return out


def weeks_of(period: Period, zone: tzinfo) -> list[tuple[date, datetime, datetime]]:
    """``days_of`` by weeks (Monday first)."""
    return days_of(period, zone, step_days=7)


def _spans(spans: list[tuple[date, datetime, datetime]]) -> Any:
    """The spans as a table ``(i, s, e)`` of literal rows (one SELECT per span, UNION ALL)."""
    rows = [select(literal(i, Integer()).label("i"), literal(start, UTCDateTime()).label("s"),
                   literal(end, UTCDateTime()).label("e")) for i, (_, start, end) in enumerate(spans)]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("spans")


def volume_per_day(session: Session, period: Period, zone: tzinfo, config: KpiConfig, *, by: str = "channel",
                   filters: Filters = ANY) -> list[tuple[date, dict[str, int]]]:
    """Requests opened on each day of `period` (in `zone`), per value of dimension `by`
    (``kpi.queries.DIMENSIONS``). Days with none are there, empty.

    Raises:
        UnknownDimension: `by` is not a dimension.
    """
    spans = days_of(period, zone)
    t, d = _requests((by,), filters, config), _spans(spans)
    query = (select(d.c.i, t.c.g0, func.count()).select_from(d)
             .join(t, and_(t.c.created_at >= d.c.s, t.c.created_at < d.c.e)).group_by(d.c.i, t.c.g0))
    out: list[tuple[date, dict[str, int]]] = [(day, {}) for day, _, _ in spans]
    for i, key, count in session.execute(query):
        out[int(i)][1][str(key)] = int(count)
    return out


def weekly_csat(session: Session, period: Period, zone: tzinfo, config: KpiConfig, csat: CsatSource, *,
                filters: Filters = ANY) -> list[tuple[date, int, int, float | None]]:
    """Per week (Monday first) of `period`: surveys of the requests *resolved* that week,
    how many were answered and the CSAT score (the mean rating 1-5 of the answers, as
    ``kpi report`` counts it), None in a week without answers."""
    spans = weeks_of(period, zone)
    t, d, sv = _requests((), filters, config), _spans(spans), csat()
    answered = sv.c.rating.isnot(None)
    query = (select(d.c.i, func.count(), func.sum(case((answered, 1), else_=0)),
                    func.sum(sv.c.rating))
             .select_from(d).join(t, and_(t.c.resolved_at >= d.c.s, t.c.resolved_at < d.c.e))
             .join(sv, sv.c.ticket_id == t.c.id).group_by(d.c.i))
    found = {int(i): (int(n), int(a or 0), float(total or 0)) for i, n, a, total in session.execute(query)}
    out: list[tuple[date, int, int, float | None]] = []
    for i, (week, _, _) in enumerate(spans):
        n, a, total = found.get(i, (0, 0, 0.0))
        out.append((week, n, a, total / a if a else None))
    return out


def backlog_ages(session: Session, now: datetime, *, edges: tuple[int, ...] = AGE_EDGES,
                 filters: Filters = ANY, config: KpiConfig | None = None,
                 past: bool = False) -> list[tuple[int | None, int]]:
    """The requests open at `now` by age (calendar time since opening): one ``(upper edge in
    hours, count)`` per bucket of `edges`, the last ``(None, count)`` for the oldest.

    With ``past=True`` `now` is a past instant (a period's end) and open then is ``kpi
    report``'s backlog — opened before it, not cancelled, and open today or resolved/closed
    after it (a finished request without those instants counts as finished). Without, the
    requests open today: one status test the index answers (the other reads every request,
    4-5 times the CPU on SQLite)."""
    t = _requests((), filters, config or KpiConfig())
    open_at: ColumnElement[bool] = t.c.status.in_(_OPEN)
    if past:
        at = literal(now, UTCDateTime())
        finished = func.coalesce(t.c.resolved_at, t.c.closed_at)
        open_at = and_(t.c.created_at < at, t.c.status != "cancelled", or_(open_at, finished >= at))
    bucket = case(*((t.c.created_at > now - timedelta(hours=h), i) for i, h in enumerate(edges)), else_=len(edges))
    query = select(bucket, func.count()).where(open_at).group_by(bucket)
    found = {int(b): int(n) for b, n in session.execute(query)}
    return [(edge, found.get(i, 0)) for i, edge in enumerate((*edges, None))]

