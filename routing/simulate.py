"""Replay past requests under current or proposed rules: who would have taken each, how
long it would have waited, and whether its SLA would have been met — beside what happened.

Pure: no clock, no store. The edge (``routing.replay``) reads the requests and the agents
and passes the agents' shifts and leave as functions. The replay is event-driven: a
request is decided when it arrives (``decide``, as ``routing.tick`` would), waits in the
queue (most urgent first) while nobody is eligible, and is tried again when a simulated
request ends, an agent comes on shift or back from leave, or another request arrives.

The assumptions, which the output states:

* the work took as long as it did: a request occupies its simulated agent from its
  simulated assignment for as long as it took from its actual assignment (the routing
  log's, else its creation) to its resolution (else closing); unresolved, to the end;
* the first response comes as long after the assignment as it actually did;
* every agent was ``available`` (past away/offline spells are not recorded); shifts and
  leave are today's configuration's, applied to the past;
* the due instants are the ones the SLA addon computed for the request (they depend on
  its creation and policy, not on who took it).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from statistics import mean

from routing.decide import AgentState, RequestFacts, decide, load_of
from routing.settings import RuleSpec

__all__ = ["Compliance", "PastRequest", "Replayed", "Simulation", "simulate"]

Shift = Callable[[str, datetime], datetime | None]  # (agent key, instant) -> None on shift, else when it starts
Leave = Callable[[str, datetime], date | None]  # (agent key, instant) -> the last day of the leave they are on
_PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PastRequest:
    """A request of the window as the store holds it (aware instants)."""

    facts: RequestFacts
    created_at: datetime
    priority: str
    customer: int | None
    actual_agent: str | None  # the actual assignee's configuration key (or name when not routable)
    assigned_at: datetime | None = None  # the actual assignment (routing log), None: unknown
    first_response_at: datetime | None = None
    first_response_due: datetime | None = None
    done_at: datetime | None = None  # resolved, else closed; None: still open
    resolution_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Replayed:
    """One request's two stories."""

    number: str
    agent: str | None  # simulated; None: manual or never assigned in the window
    outcome: str  # assigned, manual, waiting (still queued at the end)
    assigned_at: datetime | None
    wait: timedelta | None
    first_response: bool | None  # predicted met; None: nothing to compare
    resolution: bool | None
    actual_agent: str | None
    actual_first_response: bool | None
    actual_resolution: bool | None


@dataclass(frozen=True, slots=True)
class Compliance:
    met: int
    total: int

    @property
    def share(self) -> float | None:
        return self.met / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class Simulation:
    requests: tuple[Replayed, ...]
    agents: tuple[str, ...]  # configuration order
    names: Mapping[str, str]
    peak: Mapping[str, float]  # the highest simulated load of each agent
    simulated: Mapping[str, int] = field(default_factory=dict)
    actual: Mapping[str, int] = field(default_factory=dict)

    def waits(self) -> dict[str, float | int | None]:
        """Queue waits of the simulated assignments, in minutes: count, mean, 90th percentile, max."""
        minutes = sorted(r.wait.total_seconds() / 60 for r in self.requests if r.wait is not None)
        if not minutes:
            return {"assigned": 0, "mean": None, "p90": None, "max": None}
        p90 = minutes[min(len(minutes) - 1, int(0.9 * len(minutes)))]
        return {"assigned": len(minutes), "mean": round(mean(minutes), 1), "p90": round(p90, 1), "max": round(minutes[-1], 1)}

    def compliance(self, metric: str, *, actual: bool) -> Compliance:
        """first_response or resolution, predicted or actual: met of those with both an
        instant and a due instant."""
        name = f"actual_{metric}" if actual else metric
        values = [getattr(r, name) for r in self.requests if getattr(r, name) is not None]
        return Compliance(sum(values), len(values))


def _met(at: datetime | None, due: datetime | None) -> bool | None:
    return None if at is None or due is None else at <= due


@dataclass
class _World:
    """The simulated agents' state as the replay moves on."""

    base: dict[str, AgentState]
    shift: Shift
    leave: Leave
    teams: Mapping[str | None, Sequence[str]]
    open: dict[str, Counter[str]] = field(default_factory=dict)
    pointers: dict[str, int] = field(default_factory=dict)
    credits: dict[str, dict[str, float]] = field(default_factory=dict)
    last: dict[int, str] = field(default_factory=dict)
    _made: dict[str, tuple[tuple[object, ...], AgentState]] = field(default_factory=dict)

    def at(self, now: datetime) -> dict[str | None, list[AgentState]]:
        states = {key: self._state(key, state, now) for key, state in self.base.items()}
        return {team: [states[k] for k in keys if k in states] for team, keys in self.teams.items()}

    def _state(self, key: str, base: AgentState, now: datetime) -> AgentState:
        """The agent at `now`; the state built last time when nothing it shows changed
        (building thousands of frozen states was most of a replay's time)."""
        load = self.open.get(key)
        facts = (self.shift(key, now), self.leave(key, now), tuple(sorted(load.items())) if load else ())
        made = self._made.get(key)
        if made is not None and made[0] == facts:
            return made[1]
        state = replace(base, status="available", off_shift_until=facts[0], on_leave_until=facts[1],
                        open_by_type=dict(load or {}))
        self._made[key] = (facts, state)
        return state

    def wake(self, now: datetime) -> datetime | None:
        """The next instant someone off shift or on leave may become eligible."""
        soon: list[datetime] = []
        for key in self.base:
            starts = self.shift(key, now)
            if starts is not None and starts > now:
                soon.append(starts)
            back = self.leave(key, now)
            if back is not None:
                soon.append(datetime.combine(back + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo))
        return min(soon, default=None)


def simulate(requests: Sequence[PastRequest], rules: Sequence[RuleSpec], agents: Sequence[AgentState],
             teams: Mapping[str | None, Sequence[str]], *, shift: Shift, leave: Leave, end: datetime) -> Simulation:
    """Replay `requests` (any order) until `end` (aware) under `rules`.

    Args:
        requests: the window's requests.
        rules: the ordered rules to replay under.
        agents: every routable agent (capacity, skills, languages, weight); their status,
            shift, leave and load are the simulation's.
        teams: each team's members by key, in configuration order (``None``: everyone).
        shift, leave: the agents' schedules, as functions of (key, instant).
        end: the replay's end: the load of work not done by then is not released.
    """
    world = _World({a.key: replace(a, open_by_type={}) for a in agents}, shift, leave, teams)
    events: list[tuple[datetime, int, str, int]] = []  # (at, order, kind, request index)
    for i, r in enumerate(requests):
        events.append((r.created_at, 1, "arrive", i))
    heapq.heapify(events)
    queue: list[int] = []
    outcome: dict[int, tuple[str, str | None, datetime | None]] = {}
    peak: dict[str, float] = dict.fromkeys(world.base, 0.0)
    woken: set[datetime] = set()
    while events:
        now, _, kind, index = heapq.heappop(events)
        if now > end:
            break
        request = requests[index] if index >= 0 else None
        if kind == "finish" and request is not None:
            agent = outcome[index][1]
            if agent is not None:
                world.open[agent][request.facts.type] -= 1
        elif kind == "arrive":
            queue.append(index)
        queue.sort(key=lambda i: (requests[i].resolution_due or _FAR, _PRIORITY_RANK.get(requests[i].priority, 9),
                                  requests[i].created_at, i))
        for i in list(queue):
            done = _try(world, requests[i], rules, now)
            if done is None:
                continue
            queue.remove(i)
            outcome[i] = (done[0], done[1], now)
            if done[1] is not None:
                key = done[1]
                world.open.setdefault(key, Counter())[requests[i].facts.type] += 1
                peak[key] = max(peak[key], load_of(replace(world.base[key], open_by_type=dict(world.open[key]))))
                finish = _finish(requests[i], now)
                if finish is not None and finish <= end:
                    heapq.heappush(events, (finish, 0, "finish", i))
        if queue:
            wake = world.wake(now)
            if wake is not None and wake <= end and wake not in woken:
                woken.add(wake)
                heapq.heappush(events, (wake, 2, "wake", -1))
    return _result(requests, world, outcome, peak)


def _try(world: _World, request: PastRequest, rules: Sequence[RuleSpec], now: datetime) -> tuple[str, str | None] | None:
    """Decide one request at `now`: (outcome, agent) or None when it keeps waiting."""
    facts = replace(request.facts, last_agent=world.last.get(request.customer)) if request.customer is not None else request.facts
    decision = decide(facts, rules, world.at(now), world.pointers, now, credits=world.credits)
    if decision.outcome == "manual" or (decision.outcome == "queued" and decision.rule is None):
        return ("manual" if decision.outcome == "manual" else "no rule"), None
    if decision.outcome != "assigned" or decision.agent is None or decision.rule is None:
        return None
    if decision.pointer is not None:
        world.pointers[decision.rule] = decision.pointer
    if decision.credits is not None:
        world.credits.setdefault(decision.rule, {}).update(decision.credits)
    if request.customer is not None:
        world.last[request.customer] = decision.agent
    return "assigned", decision.agent


def _finish(request: PastRequest, assigned: datetime) -> datetime | None:
    if request.done_at is None:
        return None
    took = request.done_at - (request.assigned_at or request.created_at)
    return assigned + max(took, timedelta(0))


def _result(requests: Sequence[PastRequest], world: _World, outcome: Mapping[int, tuple[str, str | None, datetime | None]],
            peak: Mapping[str, float]) -> Simulation:
    rows: list[Replayed] = []
    for i in sorted(range(len(requests)), key=lambda i: (requests[i].created_at, requests[i].facts.number)):
        r = requests[i]
        kind, agent, at = outcome.get(i, ("waiting", None, None))
        start = r.assigned_at or r.created_at
        wait = at - r.created_at if agent is not None and at is not None else None
        response = None
        if agent is not None and at is not None and r.first_response_at is not None:
            response = _met(at + max(r.first_response_at - start, timedelta(0)), r.first_response_due)
        finish = _finish(r, at) if agent is not None and at is not None else None
        rows.append(Replayed(r.facts.number, agent, kind, at if agent else None, wait, response,
                             _met(finish, r.resolution_due), r.actual_agent,
                             _met(r.first_response_at, r.first_response_due), _met(r.done_at, r.resolution_due)))
    simulated = Counter(row.agent for row in rows if row.agent is not None)
    actual = Counter(row.actual_agent for row in rows if row.actual_agent is not None)
    order = list(world.base) + sorted(k for k in actual if k not in world.base)
    names = {k: s.name for k, s in world.base.items()}
    return Simulation(tuple(rows), tuple(order), names, dict(peak), dict(simulated), dict(actual))
