"""What the supervisor dashboard shows, read from the store at `now`: open requests by
team and status, requests about to breach now (``sla.listing.due_list``), the breached ones
— those breached now without a period, those breached during it with one
(``web.breaches``, from the SLA ledger) — counted by team and agent, the KPI charts' data (``web.charts``), the sync
conflicts and parked outbox rows (``sync.queues``, as ``crm-bridge conflicts list`` and
``jobs list`` read them), and the addons' ``status`` sections (routing's queue, notify's
parked mails, what needs a person). Reads only; the same data answers ``/api/dashboard``
and the page. Each CRM number carries ``notify.request_url``'s link when one is configured.

Example::

    board = dashboard(app, app.clock())
    board["open_by_team"]   # [{"team": "L1", "counts": {"new": 3, "in_progress": 1}, "total": 4}, ...]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from crm_bridge.app import App
from crm_bridge.model import TicketStatus
from crm_bridge.status import collect
from crm_bridge.store.tables import AgentRow, TeamRow, TicketRow
from sla.listing import DueFilter, due_list
from sync.queues import open_conflicts, parked_rows
from web.breaches import breaches_in
from web.charts import chart_data
from web.view import DEFAULT, View

__all__ = ["OPEN", "dashboard"]

OPEN = tuple(s.value for s in TicketStatus if s.is_open)
LIST_LIMIT = 20  # rows of each list on the page; the CLI (`crm-bridge sla list`) shows more


def _kept(view: View) -> list[ColumnElement[bool]]:
    """The conditions narrowing a query over tickets (joined to their team and agent) to `view`'s choice."""
    return [column == value for column, value in ((TeamRow.name, view.team), (AgentRow.name, view.agent),
                                                   (TicketRow.channel, view.channel)) if value is not None]


def _open_by_team(app: App, view: View) -> list[dict[str, Any]]:
    """Open requests per team and status, and how many of them are breached now (the red
    part of the page's bars: counted here, not from the breached list, which may be a
    period's and shows only ``LIST_LIMIT``)."""
    breached = func.sum(case((TicketRow.sla_state == "breached", 1), else_=0))
    with app.store.transaction() as s:
        query = (select(TeamRow.name, TicketRow.status, func.count(), breached).select_from(TicketRow)
                 .outerjoin(TeamRow, TeamRow.id == TicketRow.team_id))
        if view.agent is not None:  # the join only when it filters: this count runs on every page
            query = query.outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
        rows = s.execute(query.where(TicketRow.deleted.is_(False), TicketRow.status.in_(OPEN), *_kept(view))
                         .group_by(TeamRow.name, TicketRow.status)).all()
    teams: dict[str | None, dict[str, int]] = {}
    late: dict[str | None, int] = {}
    for team, status, count, breached_now in rows:
        teams.setdefault(team, {})[status] = int(count)
        late[team] = late.get(team, 0) + int(breached_now or 0)
    return [{"team": team, "counts": {s: counts.get(s, 0) for s in OPEN}, "total": sum(counts.values()),
             "breached": late[team]}
            for team, counts in sorted(teams.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]


def _due(app: App, now: datetime, state: str, view: View) -> list[dict[str, Any]]:
    wanted = DueFilter(states=(state,), team=view.team, assignee=view.agent, channel=view.channel, limit=LIST_LIMIT)
    with app.store.transaction() as s:
        rows = due_list(s, app.config.section("sla"), now, wanted)
    return [{k: r[k] for k in ("number", "subject", "status", "team", "assignee", "due", "left")} for r in rows]


def _breached_by(app: App, listed: list[dict[str, Any]], view: View) -> list[dict[str, Any]]:
    """The breached requests counted per team and agent (SQL), each group with the numbers
    of its requests the breached list shows (the list's first ``LIST_LIMIT``)."""
    with app.store.transaction() as s:
        rows = s.execute(select(TeamRow.name, AgentRow.name, func.count()).select_from(TicketRow)
                         .outerjoin(TeamRow, TeamRow.id == TicketRow.team_id)
                         .outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
                         .where(TicketRow.deleted.is_(False), TicketRow.sla_state == "breached", *_kept(view))
                         .group_by(TeamRow.name, AgentRow.name).order_by(func.count().desc(), TeamRow.name)).all()
    return [{"team": team, "assignee": agent, "count": int(n), "requests": int(n),
             "numbers": [r["number"] for r in listed if r["team"] == team and r["assignee"] == agent]}
            for team, agent, n in rows]


def _breached(app: App, now: datetime, view: View) -> dict[str, Any]:
    """The breached list, its total and its counts by team and agent: without a period the
    requests breached *now* (today's SLA state), with one those breached *during* it, open or
    resolved since (the ledger: ``web.breaches``) — a supervisor who picks November asks
    what went wrong in November; a running period counts up to now."""
    if view.period is None:
        listed = [{**r, "metric": None, "cycle": None, "ended": None, "ended_at": None, "late": None}
                  for r in _due(app, now, "breached", view)]
        by = _breached_by(app, listed, view)
        return {"breached": listed, "breached_by": by, "breached_total": sum(g["count"] for g in by)}
    with app.store.transaction() as s:
        found = breaches_in(s, view.period, _kept(view), limit=LIST_LIMIT)
    rows = [{**r, "left": None} for r in found.rows]
    return {"breached": rows, "breached_by": found.by, "breached_total": found.total}


def request_link(app: App, number: str | None) -> str | None:
    """The CRM's page of request `number` (``notify.request_url`` with ``{number}``), or None."""
    template: str | None = app.config.section("notify").request_url
    return template.replace("{number}", number) if template and number else None


def _queues(app: App) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with app.store.transaction() as s:
        conflicts = open_conflicts(s, limit=LIST_LIMIT)
        parked = parked_rows(s, "parked", LIST_LIMIT)
    keep = ("id", "backend", "model", "field", "base", "local", "remote", "number", "record", "created")
    return ([{k: c[k] for k in keep} for c in conflicts],
            [{k: r[k] for k in ("id", "backend", "model", "number", "record", "fields", "attempts", "last_error",
                                "created")} for r in parked])


def dashboard(app: App, now: datetime, view: View = DEFAULT) -> dict[str, Any]:
    """Everything the dashboard shows at `now` (aware), as plain data (JSON-ready but for
    datetimes). `view` (``web.view``) narrows the charts, the open requests by team, the
    about-to-breach and breached lists and their counts by team and agent to a team, agent
    and channel, and sets the period of the charts and of the breached list (``breached_in``:
    the period's label, None for "now"); the about-to-breach list is always now (only now
    can something be about to breach). The queues and problems are the whole store's."""
    sections = {s.name: s for s in collect(app, now)}
    routing: dict[str, Any] = sections["routing"].data if "routing" in sections else {"enabled": False, "teams": []}
    mails = sections["notify"].data.get("mails", {}) if "notify" in sections else {}
    conflicts, parked = _queues(app)
    return {
        "now": now,
        "view": {"period": view.period.label if view.period else None,
                 "start": view.period.start if view.period else None,
                 "end": view.period.end if view.period else None,
                 "team": view.team, "agent": view.agent, "channel": view.channel},
        "open_by_team": _open_by_team(app, view),
        "at_risk": _due(app, now, "warning", view),
        "breached_in": view.period.label if view.period else None,
        **_breached(app, now, view),
        "charts": chart_data(app, now, view),
        "conflicts": conflicts,
        "parked_jobs": parked,
        "routing_queue": [{"team": t["team"], "queued": t["queued"], "oldest": t["oldest"], "since": t["since"],
                           "reason": t["reason"]} for t in routing.get("teams", [])],
        "parked_mails": int(mails.get("parked", 0)),
        "problems": [{"section": s.name, **p.as_dict()} for s in sections.values() for p in s.problems],
    }
