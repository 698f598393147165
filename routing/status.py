"""The routing part of ``crm-bridge status``: requests waiting for an agent, per team,
since when, and why (the reason the last tick recorded: everybody away, at capacity, off
shift). A waiting request is the supervisors' call, not a fault of the bridge: it is
shown, and the command that explains it is named, but ``status`` does not fail on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crm_bridge.status import Section, ago
from crm_bridge.store.tables import TeamRow, TicketRow
from routing.availability import status_section
from routing.tables import RoutingQueueRow

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["routing_status"]


def routing_status(app: App, now: datetime) -> Section:
    """The ``status.section`` of routing: the queue per team, oldest request first."""
    enabled = bool(app.config.section("routing").enabled)
    section = Section("routing", "Routing", data={"enabled": enabled, "teams": []}, order=30)
    if not enabled:
        section.lines.append(("routing", "off (routing.enabled is false)"))
        return section
    with app.store.transaction() as s:
        rows = s.execute(
            select(TeamRow.name, TicketRow.number, RoutingQueueRow.queued, RoutingQueueRow.reason)
            .join(TicketRow, TicketRow.id == RoutingQueueRow.ticket_id)
            .outerjoin(TeamRow, TeamRow.id == TicketRow.team_id)
            .where(TicketRow.assignee_id.is_(None), TicketRow.deleted.is_(False))
            .order_by(RoutingQueueRow.queued, TicketRow.number)).all()
    teams: dict[str, dict[str, Any]] = {}
    for team, number, queued, reason in rows:
        entry = teams.setdefault(team or "(no team)", {"team": team, "queued": 0, "since": queued, "oldest": number,
                                                       "reason": reason})
        entry["queued"] += 1
    section.data["teams"] = list(teams.values())
    for name, t in teams.items():
        why = f": {t['reason']}" if t["reason"] else " (not tried yet)"
        section.lines.append((f"queue {name}", f"{t['queued']:,} waiting, oldest {t['oldest']} queued "
                                               f"{ago(now, t['since'])}{why}"))
    if not teams:
        section.lines.append(("queue", "no request waits for an agent"))
    for problem in status_section(app)[1]:  # a team that queues because nobody can take anything: why, since when
        section.lines.append(("nobody free", problem))
    return section
