"""CSAT figures for a period, in SQL: what ``csat report`` prints and the kpi addon may call.

``csat_summary(session, start, end, by=None|"team"|"agent")`` counts the surveys sent in
[start, end) (by when they were planned), those answered, the mean score, the share of
satisfied answers (4-5 on the five scale; faces: the happy one, stored as 5) and the
distribution per score — grouped by the request's team or assignee. One query however
many requests there are. ``period_bounds("2026-11", zone)`` is the month in a time zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import FromClause, case, func, select
from sqlalchemy.orm import Session

from crm_bridge.store.tables import AgentRow, TeamRow, TicketRow
from csat.tables import SurveyRow

__all__ = ["BY", "csat_summary", "period_bounds", "surveys"]

BY = ("team", "agent")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def surveys() -> FromClause:
    """The kpi addon's CSAT source (usage ``kpi.csat``, ``kpi.figures.CsatSource``): one row
    per survey sent, ``ticket_id`` and ``rating`` (1-5, NULL while unanswered). kpi groups
    and filters it by the request's period, team, agent…; csat imports nothing of kpi."""
    return (select(SurveyRow.ticket_id.label("ticket_id"), SurveyRow.score.label("rating"))
            .where(SurveyRow.state == "sent").subquery("csat_surveys_sent"))


def period_bounds(period: str, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of the month ``YYYY-MM`` in `zone`.

    Raises:
        ValueError: not ``YYYY-MM``.
    """
    found = _MONTH.fullmatch(period.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        msg = f"period {period!r} is not a month; write YYYY-MM, e.g. 2026-11"
        raise ValueError(msg)
    year, month = int(found.group(1)), int(found.group(2))
    tz = ZoneInfo(zone)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, end


def csat_summary(session: Session, start: datetime, end: datetime, *, by: str | None = None) -> list[dict[str, Any]]:
    """One dict per group (one in all without `by`): ``group``, ``sent``, ``rated``,
    ``response_rate`` (0-1, None without surveys), ``score`` (mean, None without ratings),
    ``satisfied`` (share of ratings ≥ 4), ``distribution`` ({score: count} for 1-5)."""
    if by is not None and by not in BY:
        msg = f"by {by!r}: group by one of {', '.join(BY)}"
        raise ValueError(msg)
    group: Any
    query = (select().select_from(SurveyRow).join(TicketRow, TicketRow.id == SurveyRow.ticket_id)
             .where(SurveyRow.state == "sent", SurveyRow.planned_at >= start, SurveyRow.planned_at < end))
    if by == "team":
        group = TeamRow.name
        query = query.outerjoin(TeamRow, TeamRow.id == TicketRow.team_id)
    elif by == "agent":
        group = AgentRow.name
        query = query.outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
    else:
        group = None
    columns = [func.count(SurveyRow.id), func.count(SurveyRow.score), func.avg(SurveyRow.score),
               func.sum(case((SurveyRow.score >= 4, 1), else_=0)),
               *(func.sum(case((SurveyRow.score == n, 1), else_=0)) for n in range(1, 6))]
    if group is not None:
        query = query.add_columns(group, *columns).group_by(group).order_by(group)
    else:
        query = query.add_columns(*columns)
    out: list[dict[str, Any]] = []
    for row in session.execute(query):
        values = list(row)
        name = values.pop(0) if group is not None else None
        sent, rated, mean, satisfied, *dist = values
        if not sent:
            continue
        out.append({"group": name, "sent": int(sent), "rated": int(rated),
                    "response_rate": round(int(rated) / int(sent), 4),
                    "score": round(float(mean), 2) if mean is not None else None,
                    "satisfied": round(int(satisfied or 0) / int(rated), 4) if rated else None,
                    "distribution": {n: int(c or 0) for n, c in zip(range(1, 6), dist, strict=True)}})
    return out
