"""A low rating's follow-up: the csat addon publishes ``csat.low`` (data: ``survey``,
``score``, ``scale``, ``comment``, ``version``); with ``routing.on_low_csat`` configured,
routing hands the request to the team lead (or a named agent, e.g. a supervisors' queue
user) so somebody calls the customer back. The assignment goes to the CRM through the sync
outbox like any other, and the routing log keeps the reason, which ``routing explain``
shows. Routing does not import csat: the event and its data are the contract.

``follow_up`` decides (pure: the rule, the request's team and assignee, the leads and the
CRM users known); ``on_csat_low`` is the edge. Example::

    follow_up(OnLowCsat(), score=1, scale_top=5, team="L1", current="Петров Пётр",
              leads={"L1": "Иванова Мария"}, names={"Иванова Мария": "Иванова Мария", ...})
    # FollowUp(agent="Иванова Мария", action="csat_followup",
    #          reason="low rating 1 of 5: a follow-up for L1's team lead Иванова Мария (was Петров Пётр)")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.store.tables import TeamRow, TicketRow
from routing.moves import assign, log_decision
from routing.roster import read_roster
from routing.settings import OnLowCsat

__all__ = ["FollowUp", "follow_up", "on_csat_low"]

log = logging.getLogger(__name__)
_TOP = {
    "five": 5,
    "faces": 3,
}  # the csat scales' best score (csat.settings.SCORES), for the reason's "1 of 5"


@dataclass(frozen=True)
class FollowUp:
    """What to do: assign `agent` (a configuration key) for the follow-up, or nothing
    (`agent` None); `action` is the routing log's (``csat_followup``: assigned,
    ``csat_followup_kept``: already theirs, ``csat_followup_none``: nobody to give it to)."""

    agent: str | None
    action: str
    reason: str


def follow_up(
    rule: OnLowCsat,
    *,
    score: int,
    scale_top: int | None,
    team: str | None,
    current: str | None,
    leads: Mapping[str, str],
    names: Mapping[str, str],
) -> FollowUp:
    """Who follows up a rating of `score` on a request of `team` assigned to `current`
    (configuration keys; None: none). `leads`: team → lead key; `names`: the keys of agents
    the CRM knows (synced users) → their names. Pure."""
    rating = f"low rating {score}" + (f" of {scale_top}" if scale_top else "")
    if rule.assign_to == "lead":
        whose = rule.team or team
        target = leads.get(whose) if whose else None
        if target is None:
            missing = (
                f"team {whose} has no lead (routing.teams.{whose}.lead)"
                if whose
                else "the request has no team"
            )
            return FollowUp(
                None, "csat_followup_none", f"{rating}: nobody to follow it up: {missing}"
            )
        role = f"{whose}'s team lead"
    else:
        target, role = rule.assign_to, "the follow-up agent"
    if target not in names:
        return FollowUp(
            None,
            "csat_followup_none",
            f"{rating}: nobody to follow it up: {role} {target} is not a CRM user synced here",
        )
    if target == current:
        return FollowUp(
            None, "csat_followup_kept", f"{rating}: already with {role} {names[target]}"
        )
    was = f" (was {names.get(current, current)})" if current else ""
    return FollowUp(
        target, "csat_followup", f"{rating}: a follow-up for {role} {names[target]}{was}"
    )


def on_csat_low(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``csat.low``: with ``routing.on_low_csat`` set, assign the follow-up (in
    the rating's transaction) and log the decision; without it, nothing."""
    config = unit.config.section("routing")
    rule: OnLowCsat | None = config.on_low_csat
    session = unit.session
    ticket = session.get(TicketRow, event.local_id)
    if rule is None or ticket is None or ticket.deleted:
        return
    data = event.data or {}
    roster = read_roster(session, unit.config, unit.now)
    team = session.get(TeamRow, ticket.team_id) if ticket.team_id else None
    names = {key: state.name for key, state in roster.states.items() if state.agent_id is not None}
    decided = follow_up(
        rule,
        score=int(data.get("score") or 0),
        scale_top=_TOP.get(str(data.get("scale"))),
        team=team.name if team else None,
        current=roster.keys.get(ticket.assignee_id or 0),
        leads=roster.leads,
        names=names,
    )
    csat = {
        k: data.get(k) for k in ("survey", "score", "scale", "version")
    }  # not the comment: the customer's words stay in csat
    if decided.agent is None:
        log_decision(
            session,
            ticket.id,
            unit.now,
            decided.action,
            None,
            agent_id=ticket.assignee_id,
            reason=decided.reason,
            data={"csat": csat},
        )
        log.info(
            "request %s: %s",
            ticket.number,
            decided.reason,
            extra={
                "event": f"routing.{decided.action}",
                "number": ticket.number,
                "local_id": ticket.id,
            },
        )
        return
    agent_id = roster.states[decided.agent].agent_id
    assert agent_id is not None  # follow_up only picks synced users
    assign(
        unit,
        ticket,
        agent_id,
        team=None,
        action=decided.action,
        decision=None,
        reason=decided.reason,
        agent_name=names[decided.agent],
        data={"csat": csat},
    )
