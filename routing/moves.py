"""The moves routing makes on a request, shared by the tick, re-routing, escalations and
co-executors: what the rules see of a request (``request_facts``), claiming an agent's
capacity under a lock (``claim``, ``lock_agents``), making the assignment (``assign``:
the outbox's ``record.changed`` and notify's ``routing.assigned``) and logging why
(``log_decision``).

Capacity holds across workers: before an assignment the chosen agent's row in
``routing_agents`` is locked (``FOR UPDATE`` on PostgreSQL; SQLite's transactions hold
the write lock) and their load counted again under the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.store.tables import AgentRow, CustomerRow, TeamRow, TicketRow, core_table
from routing.batch import insert_rows
from routing.decide import Considered, Decision, RequestFacts, load_of
from routing.language import CustomerLanguage, language_of
from routing.roster import Roster, count_load
from routing.tables import RoutingAgentRow, RoutingLogRow

__all__ = ["assign", "batched_log", "claim", "considered_of", "lock_agents", "log_decision", "pack_considered",
           "request_facts"]

_PACKED = "considered_packed"  # routing_log.data key of pack_considered's form
_BATCH = "routing.log_rows"  # session.info key of the rows batched_log collects
log = logging.getLogger("routing.engine")  # the moves' log lines keep the engine's name: operators filter on it


def request_facts(ticket: TicketRow, customer: CustomerRow | None, team: TeamRow | None, *,
                  languages: CustomerLanguage | None = None, last_agent: str | None = None) -> RequestFacts:
    """What the rules match on, as the SLA policies see it (``Match.why_not``), plus the
    derived ``language`` (``routing.language``) and the customer's last agent."""
    segment = customer.segment if customer else None
    language, _ = language_of(ticket.tags or (), segment, languages)
    return RequestFacts(ticket.number, ticket.type, {
        "type": ticket.type, "priority": ticket.priority, "status": ticket.status, "channel": ticket.channel,
        "source": ticket.source, "number": ticket.number, "subject": ticket.subject,
        "customer": customer.name if customer else None, "customer_tax_id": customer.tax_id if customer else None,
        "segment": customer.segment if customer else None, "team": team.name if team else None,
        "contract": ticket.contract, "tags": list(ticket.tags or []), "language": language}, last_agent)


def claim(session: Session, roster: Roster, key: str, request_type: str, config: Any, now: datetime) -> bool:
    """Lock agent `key`'s row and count their load again under the lock; True when the
    request still fits their capacity. The roster learns the recounted load either way, so
    a refused claim makes the next decision exclude the agent "at capacity". The lock is
    held until the transaction ends, so an agent is locked and recounted once per
    transaction: after that the roster's count (``Roster.took``) is exact."""
    state = roster.states[key]
    if state.agent_id is None:
        return False
    if key not in roster.locked:
        # No flush first: this transaction assigns to an agent only after locking them, so
        # nothing unflushed can be missing from their count (it can only count more).
        with session.no_autoflush:
            table = core_table(RoutingAgentRow)
            postgres = session.get_bind().dialect.name == "postgresql"
            insert = postgresql.insert(table) if postgres else sqlite.insert(table)
            session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.agent_id]),
                            [{"agent_id": state.agent_id, "status": "available", "since": now}])
            lock = select(RoutingAgentRow.agent_id).where(RoutingAgentRow.agent_id == state.agent_id)
            session.execute(lock.with_for_update() if postgres else lock)
            fresh = count_load(session, config, [state.agent_id]).get(state.agent_id, {})
        state = replace(state, open_by_type=fresh)
        roster.put(key, state)
        roster.locked.add(key)  # held until the transaction ends: later claims trust the roster
    limit = state.capacity.limit(request_type)
    return load_of(state) + state.capacity.weight(request_type) <= state.capacity.max and (
        limit is None or state.open_by_type.get(request_type, 0) + 1 <= limit)


def lock_agents(session: Session, now: datetime) -> None:
    """Lock every CRM user's ``routing_agents`` row at once, in id order (two lockers never
    wait on each other in a circle). Read the roster after it: the load it counts cannot
    change under this transaction, so a chunk of the queue claims from the roster alone
    (``Roster.locked``) — one grouped count per chunk instead of three statements a decision."""
    ids = sorted(session.scalars(select(AgentRow.id)))
    if not ids:
        return
    table = core_table(RoutingAgentRow)
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    with session.no_autoflush:
        session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.agent_id]),
                        [{"agent_id": i, "status": "available", "since": now} for i in ids])
        lock = select(RoutingAgentRow.agent_id).order_by(RoutingAgentRow.agent_id)
        session.execute(lock.with_for_update() if postgres else lock)


def _team_id(session: Session, name: str) -> int:
    """The local id of team `name`, created on first use; remembered for the session's
    transaction (``session.info``), so a chunk of assignments asks once per team."""
    known: dict[str, int] = session.info.setdefault("routing.team_ids", {})
    if name in known:
        return known[name]
    with session.no_autoflush:
        team = session.scalar(select(TeamRow).where(TeamRow.name == name))
    if team is None:
        team = TeamRow(name=name)
        session.add(team)
        session.flush()
    known[name] = int(team.id)
    return known[name]


def pack_considered(considered: Sequence[Considered]) -> dict[str, Any]:
    """The agents a decision considered, compactly for ``routing_log.data``: each agent a
    list ``[key, load, reason, why, name]`` without its trailing defaults (no reason, no
    why, name = key), each reason an index in ``reasons`` (a reason such as "off shift
    until 09:00" is shared by many). A dict per agent made the log's JSON ~4 KB a decision
    on a 50-agent team: the client's encoding and the server's write cost more than the
    decision. ``considered_of`` gives back the dicts ``routing explain`` shows.

    >>> pack_considered([Considered("Иванова", "Иванова", "away", 3.0), Considered("b", "B", None, 1.5, "least loaded")])
    {'reasons': ['away'], 'agents': [['Иванова', 3.0, 0], ['b', 1.5, None, 'least loaded', 'B']]}
    """
    reasons: dict[str, int] = {}
    agents: list[list[Any]] = []
    add = agents.append
    for key, name, excluded, load, why in considered:  # by hand, not a loop trimming defaults: once per agent and decision
        if excluded is None:
            reason = None
        elif (reason := reasons.get(excluded)) is None:
            reason = reasons[excluded] = len(reasons)
        if name != key:
            add([key, load, reason, why, name])
        elif why:
            add([key, load, reason, why])
        elif reason is not None:
            add([key, load, reason])
        else:
            add([key, load])
    return {"reasons": list(reasons), "agents": agents}


def considered_of(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The agents a logged decision considered (``key``, ``name``, ``excluded``, ``load``,
    ``why``), from the compact form ``log_decision`` stores or the dicts older rows hold;
    None when the row has none."""
    if "considered" in data:
        return list(data["considered"])
    packed = data.get(_PACKED)
    if packed is None:
        return None
    reasons: list[str] = packed["reasons"]
    found: list[dict[str, Any]] = []
    for entry in packed["agents"]:
        full: list[Any] = [*entry, *(None, "", entry[0])[len(entry) - 2:]]  # the trimmed defaults back
        key, load, reason, why, name = full
        found.append({"key": key, "name": name, "excluded": None if reason is None else reasons[reason],
                      "load": float(load), "why": why})
    return found


@contextmanager
def batched_log(session: Session) -> Iterator[None]:
    """Within: ``log_decision`` collects its rows, written at the end in one statement
    (``routing.batch.insert_rows``) — the tick logs every decision with every agent
    considered, and an ORM object per row cost more than the decision. Rows logged inside
    are not readable in the transaction until the block ends; nothing the tick calls
    reads them back."""
    rows: list[dict[str, Any]] = []
    session.info[_BATCH] = rows
    try:
        yield
    finally:
        session.info.pop(_BATCH, None)
    insert_rows(session, core_table(RoutingLogRow), rows)


def log_decision(session: Session, ticket_id: int, now: datetime, action: str, decision: Decision | None, *,
                 agent_id: int | None = None, previous_id: int | None = None, reason: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
    """Append a move to ``routing_log`` with the agents the decision considered (inside
    ``batched_log``: at the end of the block)."""
    recorded: dict[str, Any] = dict(data or {})
    if decision is not None:
        recorded[_PACKED] = pack_considered(decision.considered)
        recorded["rules_checked"] = [list(r) for r in decision.rules_checked]
    row = {"ticket_id": ticket_id, "at": now, "action": action, "rule": decision.rule if decision else None,
           "agent_id": agent_id, "previous_id": previous_id,
           "reason": reason if reason is not None else (decision.reason if decision else ""), "data": recorded}
    batch: list[dict[str, Any]] | None = session.info.get(_BATCH)
    if batch is not None:
        batch.append(row)
    else:
        session.add(RoutingLogRow(**row))


def assign(unit: Unit, ticket: TicketRow, agent_id: int, *, team: str | None, action: str, decision: Decision | None,
           reason: str | None = None, agent_name: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Make `agent_id` the request's assignee (and `team` its team), hand the change to the
    outbox and log it. The co-executors stay with the request (re-routing and escalations
    replace the assignee, not the specialists a rule or a 1C user added), except the new
    assignee, who leaves the list; the outbox then gets the whole list. `agent_name`: the agent's name when the caller has it (the tick's
    roster) — looking it up would flush the session at every assignment. `data`: kept in the log row (the cause)."""
    previous = ticket.assignee_id
    fields: dict[str, Any] = {"assignee_id": agent_id}
    ticket.assignee_id = agent_id
    co_executors = [int(i) for i in ticket.co_executors or []]
    if agent_id in co_executors:  # never their own co-executor; the others stay, whoever takes over
        ticket.co_executors = fields["co_executors"] = [i for i in co_executors if i != agent_id]  # the whole list: a PATCH replaces 1C's
    if team is not None:
        team_id = _team_id(unit.session, team)
        if ticket.team_id != team_id:
            ticket.team_id = fields["team_id"] = team_id
    if agent_name is None:
        agent = unit.session.get(AgentRow, agent_id)
        agent_name = agent.name if agent is not None else f"#{agent_id}"
    rule = f"routing rule {decision.rule}" if decision is not None and decision.rule else f"routing ({action})"
    why = f"{rule} → {agent_name}"
    unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "routing",
                             {"fields": fields, "why": dict.fromkeys(fields, why)}))
    if previous != agent_id:  # who hears of it is notify's business (the customer, the new assignee)
        unit.publish(DomainEvent("routing.assigned", "ticket", ticket.id, "routing",
                                 {"agent_id": agent_id, "previous_id": previous, "action": action}))
    log_decision(unit.session, ticket.id, unit.now, action, decision, agent_id=agent_id, previous_id=previous, reason=reason,
                 data=data)
    log.info("request %s: %s to agent %s", ticket.number, action, agent_name,
             extra={"event": f"routing.{action}", "number": ticket.number, "local_id": ticket.id, "agent_id": agent_id})
