"""The requests whose SLA was breached *during* a period, read from the SLA ledger
(``sla_events``): a ``breach`` row of the request's newest generation (the one its
``sla_clocks`` row names, looked up by the clock's key, so a story told again by ``sla
recalc`` counts once) dated inside the period — whether the request is still open or was
resolved since. One row per clock cycle missed: the target (``first_response`` or
``resolution``; a reopened request's later resolution cycle is a breach of its own), the
instant it was due (the breach's own instant) and, once the cycle ended, by how much
business time it was missed. Team and assignee are the request's today (the ledger does
not record them), as in ``kpi report``.

All in SQL (SQLAlchemy Core, SQLite and PostgreSQL): the list ordered and limited in the
database, the counts by team and agent grouped there. Example::

    found = breaches_in(session, period, limit=20)
    found.total            # breaches in the period (the list shows at most `limit`)
    found.rows[0]["late"]  # business seconds over the target, None while the clock runs
    found.by[0]            # {"team": "L2", "assignee": "…", "count": 3, "requests": 2, "numbers": [...]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, aliased

from crm_bridge.store.tables import AgentRow, TeamRow, TicketRow
from kpi.period import Period
from sla.tables import SlaClockRow, SlaEventRow

__all__ = ["Breaches", "breaches_in"]

#: how a missed cycle ended: ``fulfil`` (met, late), ``stop`` (cancelled); no row: still running
_ENDS = ("fulfil", "stop")


@dataclass(frozen=True)
class Breaches:
    """`total` cycles breached in the period; the first `rows` of them, latest first; `by`
    team and agent: breaches, distinct requests, and the numbers of those `rows` shows."""

    total: int
    rows: list[dict[str, Any]]
    by: list[dict[str, Any]]


def _missed(period: Period) -> Any:
    """Per clock cycle of the newest generation with a breach inside `period`: its first
    breach there (``due``) and the target in business seconds (``target``: the breach row's
    business seconds — the time used when it fired; the largest, should a policy change have
    raised the target and the cycle breached again). Found by the ledger's kind-and-instant
    index (``kpi``'s), then each request's clock by its key."""
    ev = SlaEventRow
    # The newest generation looked up per breach (the clock's primary key), not joined: on
    # PostgreSQL the join hashed every request's clock (100,000 requests: a month's list
    # 0.18 s, now 0.05 s; a year's, 14,000 breaches, 0.31 s against 0.55 s) — the cost now
    # follows the breaches in the period, not the size of the store. SQLite: the same.
    newest = select(SlaClockRow.generation).where(SlaClockRow.ticket_id == ev.ticket_id).scalar_subquery()
    return (select(ev.ticket_id, ev.generation, ev.metric, ev.cycle, func.min(ev.at).label("due"),
                   func.max(ev.business_seconds).label("target"))
            .where(ev.kind == "breach", ev.at >= period.start, ev.at < period.end, ev.generation == newest)
            .group_by(ev.ticket_id, ev.generation, ev.metric, ev.cycle)).subquery("missed")


def _narrowed(query: Any, missed: Any, where: Sequence[ColumnElement[bool]]) -> Any:
    """`query` over the missed cycles joined to their request, its team and assignee, kept
    by `where` (conditions on those three tables: the dashboard's team, agent and channel)."""
    return (query.select_from(missed).join(TicketRow, TicketRow.id == missed.c.ticket_id)
            .outerjoin(TeamRow, TeamRow.id == TicketRow.team_id)
            .outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
            .where(TicketRow.deleted.is_(False), *where))


def breaches_in(session: Session, period: Period, where: Sequence[ColumnElement[bool]] = (), *,
                limit: int = 20) -> Breaches:
    """The SLA breaches dated in `period` (``[start, end)``, aware), latest first, at most
    `limit` rows, with their total and their counts by team and agent (most first).

    Each row: ``number``, ``subject``, ``status`` (today's), ``team``, ``assignee``,
    ``metric`` (the target missed), ``cycle``, ``due`` (the instant it was due: the breach),
    ``ended`` (``fulfil``: met late; ``stop``: cancelled; None: the clock still runs or is
    paused), ``ended_at`` and ``late`` (business seconds used past the target when the cycle
    ended; None while it runs — the ledger records no figure before the end).
    """
    missed = _missed(period)
    end = aliased(SlaEventRow, name="ended")
    listed = (_narrowed(select(TicketRow.number, TicketRow.subject, TicketRow.status, TeamRow.name.label("team"),
                               AgentRow.name.label("assignee"), missed.c.metric, missed.c.cycle, missed.c.due,
                               missed.c.target, end.kind.label("ended"), end.at.label("ended_at"),
                               end.business_seconds.label("used")), missed, where)
              .outerjoin(end, and_(end.ticket_id == missed.c.ticket_id, end.generation == missed.c.generation,
                                   end.metric == missed.c.metric, end.cycle == missed.c.cycle, end.kind.in_(_ENDS)))
              .order_by(missed.c.due.desc(), TicketRow.number, missed.c.metric, missed.c.cycle).limit(limit))
    rows = [_row(r) for r in session.execute(listed)]
    counted = (_narrowed(select(TeamRow.name, AgentRow.name, func.count(), func.count(func.distinct(missed.c.ticket_id))),
                         missed, where)
               .group_by(TeamRow.name, AgentRow.name).order_by(func.count().desc(), TeamRow.name, AgentRow.name))
    by = [{"team": team, "assignee": agent, "count": int(n), "requests": int(requests),
           "numbers": list(dict.fromkeys(r["number"] for r in rows if (r["team"], r["assignee"]) == (team, agent)))}
          for team, agent, n, requests in session.execute(counted)]
    return Breaches(sum(g["count"] for g in by), rows, by)


def _row(r: Any) -> dict[str, Any]:
    late = None
    if r.ended is not None and r.used is not None and r.target is not None:
        late = max(0.0, float(r.used) - float(r.target))  # a breach fires once the target is used: never below
    return {"number": r.number, "subject": r.subject, "status": r.status, "team": r.team, "assignee": r.assignee,
            "metric": r.metric, "cycle": int(r.cycle), "due": r.due, "ended": r.ended, "ended_at": r.ended_at,
            "late": late}
