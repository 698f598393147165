"""The agents' state at one instant, read from the store and the configuration.

The CRM's users (synced ``agents``) are matched to ``routing.agents`` by name, then by
e-mail (case-insensitive); with ``agent_defaults`` every other active user is routable
too (minus ``routing.exclude``, e.g. service accounts). A configured agent the CRM does not
know stays in the roster, excluded with that reason, so ``routing explain`` says so.

Load counts the agents' requests in ``routing.load_statuses`` with one grouped query;
shifts come from the ``sla`` section's calendars (``sla.due.is_working``), leave from
``time_off`` read in the configuration's time zone and from ``time_off_files`` (read
again at every call: an edited file applies at the next tick; a file broken meanwhile is
logged and its last good contents kept), availability from ``routing_agents``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_bridge.store.tables import AgentRow, TicketRow
from routing.decide import AgentState
from routing.settings import AgentSpec, RoutingConfig
from routing.tables import RoutingAgentRow
from routing.timeoff import TimeOff, TimeOffFileError, read_time_off
from sla.due import is_working, next_working_instant

__all__ = ["Roster", "count_load", "file_leaves", "gone_agents", "last_agents", "read_roster"]

log = logging.getLogger(__name__)
_LAST_GOOD: dict[str, tuple[float, list[TimeOff]]] = {}  # path -> (mtime, leaves) of its last good read


@dataclass
class Roster:
    """Every routable agent's state by configuration key (configuration order), the key of
    each local agent id, and each team's members (key ``None``: everyone)."""

    states: dict[str, AgentState]
    keys: dict[int, str]
    teams: dict[str | None, list[str]]
    leads: dict[str, str]
    #: agents whose row this transaction has locked (``engine.claim``): their load cannot
    #: change under us until it commits, so the roster's own count is exact for them
    locked: set[str] = field(default_factory=set)

    #: the pools built once (``pools``) and where each agent sits in them, kept up to date
    #: by ``put``: rebuilding every pool at every decision cost more than the decision
    _pools: dict[str | None, list[AgentState]] | None = field(default=None, repr=False)
    _seats: dict[str, list[tuple[str | None, int]]] = field(default_factory=dict, repr=False)

    def pools(self) -> dict[str | None, list[AgentState]]:
        """Each team's agents' states in configuration order (key ``None``: everyone). The
        same lists each call, updated in place by ``put``: read them, do not change them."""
        if self._pools is None:
            self._pools = {team: [self.states[k] for k in keys] for team, keys in self.teams.items()}
            self._seats = {}
            for team, keys in self.teams.items():
                for position, key in enumerate(keys):
                    self._seats.setdefault(key, []).append((team, position))
        return self._pools

    def put(self, key: str, state: AgentState) -> None:
        """Agent `key`'s new state, in ``states`` and in every pool they are in."""
        self.states[key] = state
        if self._pools is not None:
            for team, position in self._seats.get(key, ()):
                self._pools[team][position] = state

    def took(self, key: str, request_type: str) -> None:
        self.put(key, self.states[key].with_one_more(request_type))

    def gave_up(self, key: str, request_type: str) -> None:
        self.put(key, self.states[key].with_one_less(request_type))


def count_load(session: Session, config: RoutingConfig, agent_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """Open requests per agent and type, counting only ``load_statuses`` (one query)."""
    query = (select(TicketRow.assignee_id, TicketRow.type, func.count())
             .where(TicketRow.assignee_id.is_not(None), TicketRow.deleted.is_(False),
                    TicketRow.status.in_([s.value for s in config.load_statuses]))
             .group_by(TicketRow.assignee_id, TicketRow.type))
    if agent_ids is not None:
        query = query.where(TicketRow.assignee_id.in_(list(agent_ids)))
    load: dict[int, dict[str, int]] = {}
    for agent_id, kind, count in session.execute(query):
        load.setdefault(int(agent_id or 0), {})[str(kind)] = int(count)
    return load


def last_agents(session: Session, customer_ids: Iterable[int], keys: dict[int, str]) -> dict[int, str]:
    """The agent (configuration key) who was assigned the most recent request of each
    customer, for rule option ``prefer_last_agent``; one windowed query."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rank = func.row_number().over(partition_by=TicketRow.customer_id,
                                  order_by=(TicketRow.created_at.desc(), TicketRow.id.desc())).label("rank")
    inner = (select(TicketRow.customer_id, TicketRow.assignee_id, rank)
             .where(TicketRow.customer_id.in_(ids), TicketRow.assignee_id.is_not(None), TicketRow.deleted.is_(False))
             .subquery())
    found: dict[int, str] = {}
    for customer_id, assignee_id in session.execute(select(inner.c.customer_id, inner.c.assignee_id).where(inner.c.rank == 1)):
        key = keys.get(int(assignee_id))
        if key is not None:
            found[int(customer_id)] = key
    return found


def file_leaves(config: RoutingConfig, zone: ZoneInfo) -> list[TimeOff]:
    """The leaves of every ``time_off_files`` entry; a file that no longer reads is logged
    (once per change) and its last good contents are used."""
    found: list[TimeOff] = []
    for name in config.time_off_files:
        path = Path(name)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        cached = _LAST_GOOD.get(name)
        if cached is not None and cached[0] == mtime:
            found += cached[1]
            continue
        try:
            leaves = read_time_off(path, zone)
        except TimeOffFileError as exc:
            log.error("time off not reloaded: %s (the last good read is kept)", exc,  # noqa: TRY400 - one line for people
                      extra={"event": "routing.time_off.invalid", "file": name})
            if cached is not None:
                _LAST_GOOD[name] = (mtime, cached[1])  # reported once until the file changes again
                found += cached[1]
            continue
        _LAST_GOOD[name] = (mtime, leaves)
        found += leaves
    return found


def _leaves_of(leaves: Sequence[TimeOff], *names: str | None) -> list[tuple[date, date]]:
    wanted = {n.lower() for n in names if n}
    return [(t.from_, t.to) for t in leaves if t.agent.lower() in wanted]


def gone_agents(session: Session) -> set[int]:
    """Agents deactivated in the CRM, or deleted there (every binding of theirs a
    tombstone: the local row stays, for the history that names them)."""
    from sync.tables import BindingRow  # the bindings say what the CRM deleted

    gone = set(session.scalars(select(AgentRow.id).where(AgentRow.active.is_(False))))
    states: dict[int, set[str]] = {}
    for local_id, state in session.execute(select(BindingRow.local_id, BindingRow.state).where(BindingRow.model == "agent")):
        states.setdefault(int(local_id), set()).add(str(state))
    return gone | {agent for agent, seen in states.items() if seen == {"tombstone"}}


def _state(key: str, row: Any, spec: AgentSpec, schedule: str | None, app_config: Any, now: datetime,
           status: str, load: dict[str, int], imported: Sequence[TimeOff] = ()) -> AgentState:
    local = now.astimezone(ZoneInfo(app_config.timezone))
    off_until = None
    if schedule is not None:
        calendar = app_config.section("sla").calendar(schedule)
        if not is_working(calendar, local):
            off_until = next_working_instant(calendar, local)
    today = local.date()
    spans = [(span.from_, span.to) for span in spec.time_off]
    spans += _leaves_of(imported, key, row.name if row is not None else None, row.email if row is not None else None)
    leave = max((end for start, end in spans if start <= today <= end), default=None)
    leave_from = min((start for start, end in spans if start <= today <= end), default=None)
    return AgentState(key=key, name=row.name if row is not None else key, agent_id=row.id if row is not None else None,
                      active=bool(row.active) if row is not None else False, status=status,  # type: ignore[arg-type]
                      off_shift_until=off_until, on_leave_until=leave, capacity=spec.capacity,
                      skills=dict(spec.skills), languages=frozenset(spec.languages), open_by_type=load,
                      weight=spec.weight, on_leave_from=leave_from)


def read_roster(session: Session, app_config: Any, now: datetime) -> Roster:
    """Every routable agent's state at `now` (aware)."""
    config: RoutingConfig = app_config.section("routing")
    rows = list(session.execute(select(AgentRow.id, AgentRow.name, AgentRow.email, AgentRow.active).order_by(AgentRow.id)))
    by_name = {r.name: r for r in rows}
    by_email = {r.email.lower(): r for r in rows if r.email}
    statuses = {r.agent_id: r.status for r in session.scalars(select(RoutingAgentRow))}
    load = count_load(session, config)
    imported = file_leaves(config, ZoneInfo(app_config.timezone)) if config.time_off_files else []
    states: dict[str, AgentState] = {}
    keys: dict[int, str] = {}
    for key, spec in config.agents.items():
        row = by_name.get(key) or by_email.get(key.lower())
        status = statuses.get(row.id, "available") if row is not None else "available"
        states[key] = _state(key, row, spec, config.schedule_of(key), app_config, now, status,
                             load.get(row.id, {}) if row is not None else {}, imported)
        if row is not None:
            keys[row.id] = key
    if config.agent_defaults is not None:
        excluded = set(config.exclude)
        for row in rows:
            if row.id in keys or not row.active or row.name in excluded or row.name in states:
                continue
            states[row.name] = _state(row.name, row, config.agent_defaults, config.agent_defaults.schedule, app_config,
                                      now, statuses.get(row.id, "available"), load.get(row.id, {}), imported)
            keys[row.id] = row.name
    for agent_id in gone_agents(session) & set(keys):  # deleted in the CRM: never eligible
        states[keys[agent_id]] = replace(states[keys[agent_id]], active=False)
    teams: dict[str | None, list[str]] = {None: list(states)}
    teams.update({name: config.members(name) for name in config.teams})
    leads = {name: team.lead for name, team in config.teams.items() if team.lead is not None}
    return Roster(states, keys, teams, leads)
