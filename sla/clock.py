"""SLA clocks: a request's history in, its SLA cycles and events out. Pure: no store, no
clock of its own (``now`` is an argument), no I/O.

For each metric (first response, next response, resolution) a *cycle* runs from its
start until it is fulfilled or stopped. While the status is one the policy pauses on,
business time does not accrue. A request reopened after resolution starts a new
resolution cycle and keeps the old one. When the request's facts change mid-cycle (type,
priority, channel…) the policy is matched again at that instant; if the policy, target or
calendar changes, the rule is: business time already used stays used (measured on the
calendar it ran on) and the remaining time counts against the new target on the new
calendar — recorded as an ``apply_policy`` event.

Within each running stretch, the instants at which the used time reaches a threshold —
the warning share, ``before`` the due instant, the target (breach), each escalation — are
found with one ``add_business`` call each: O(log n), never a loop over minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from crm_bridge.model import Priority, TicketStatus
from sla.calendar import Calendar
from sla.due import add_business, business_between
from sla.policy import PolicySpec, Verdict, facts_matched, match_policy

__all__ = ["Change", "Cycle", "Evaluation", "SlaEvent", "TicketFacts", "evaluate"]


@dataclass(frozen=True, slots=True)
class Change:
    """A field of the request took a new value at an instant (from its domain events)."""

    at: datetime
    field: str  # status, priority, type, channel, team, … or "message" (value: "customer" / "agent")
    value: Any


@dataclass(frozen=True)
class TicketFacts:
    created_at: datetime
    initial: Mapping[str, Any]  # field values when the request was opened
    changes: Sequence[Change] = ()
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SlaEvent:
    metric: str
    cycle: int
    kind: str  # activate, apply_policy, pause, resume, warn, breach, escalate, fulfil, stop, beyond_data
    at: datetime
    business: timedelta  # business time used in the cycle at this instant
    calendar: timedelta  # wall time since the cycle started
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Cycle:
    metric: str
    index: int
    start: datetime
    policy: str
    calendar: str
    target: timedelta
    used: timedelta = timedelta(0)
    due: datetime | None = None
    state: str = "on_track"  # on_track, warning, breached, paused, met, missed, cancelled
    ended_at: datetime | None = None
    next_check: datetime | None = None
    #: what a reader must know about how the times were computed, e.g. "computed beyond
    #: ru-production's data (ends 2027-12-31)" (recorded in the ledger as ``beyond_data``)
    notes: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    events: list[SlaEvent]
    cycles: list[Cycle]

    def current(self, metric: str) -> Cycle | None:
        found = [c for c in self.cycles if c.metric == metric]
        return found[-1] if found else None

    @property
    def next_check(self) -> datetime | None:
        checks = [c.next_check for c in self.cycles if c.next_check is not None]
        return min(checks) if checks else None


CalendarLookup = Callable[[str], Calendar]

#: the slots' own setters: ``_event`` fills a frozen ``SlaEvent`` without its generated
#: ``__init__``, which goes through ``object.__setattr__`` field by field (2.2 µs an event
#: against 1.2; a request emits about seven)
_EVENT_SLOTS = tuple(SlaEvent.__dict__[name].__set__ for name in ("metric", "cycle", "kind", "at", "business", "calendar",
                                                                   "data"))
_new = object.__new__


def _event(metric: str, cycle: int, kind: str, at: datetime, business: timedelta, calendar: timedelta,
           data: Mapping[str, Any]) -> SlaEvent:
    """``SlaEvent(metric, cycle, kind, at, business, calendar, data)``, the same object, made faster."""
    event = _new(SlaEvent)
    s_metric, s_cycle, s_kind, s_at, s_business, s_calendar, s_data = _EVENT_SLOTS
    s_metric(event, metric)
    s_cycle(event, cycle)
    s_kind(event, kind)
    s_at(event, at)
    s_business(event, business)
    s_calendar(event, calendar)
    s_data(event, data)
    return event


#: the thresholds of a (policy, target), shared by every cycle evaluated on them: (id of
#: the policy, target) -> (the policy, kept so that its id is not reused, thresholds)
_MARKS: dict[tuple[int, timedelta], tuple[PolicySpec, list[tuple[timedelta, str, str, dict[str, Any]]]]] = {}
_MARKS_KEPT = 4096
_ZERO = timedelta(0)
_ORDER = attrgetter("at", "metric", "cycle")  # the events' order: (at, metric, cycle)
_AT = attrgetter("at")
#: the enums by value: a dict look-up, where calling the enum costs a few µs a request
_STATUSES: dict[Any, TicketStatus] = {s.value: s for s in TicketStatus}
_PRIORITIES: dict[Any, Priority] = {p.value: p for p in Priority}


def _status(value: Any) -> TicketStatus:
    """``TicketStatus(value)``, raising as it does for a value that is none."""
    return _STATUSES.get(value) or TicketStatus(value)


#: the policies a request is matched against (kept, so that their id is not reused) -> what
#: the matching reads of a request (``facts_matched``)
_READS: dict[int, tuple[Sequence[PolicySpec], tuple[tuple[str, ...], bool]]] = {}
#: (id of the policies, the date if a policy has a validity, the facts read) -> (the
#: policies, the match): most requests of a chunk are matched alike (type, priority, …)
_MATCHES: dict[tuple[Any, ...], tuple[Sequence[PolicySpec], tuple[PolicySpec | None, list[Verdict]]]] = {}


def _match_alike(policies: Sequence[PolicySpec], state: Mapping[str, Any],
                 at: datetime) -> tuple[PolicySpec | None, list[Verdict]]:
    """``match_policy(policies, state, at)``, remembered for requests alike in what it reads."""
    reads = _READS.get(id(policies))
    if reads is None or reads[0] is not policies:
        if len(_READS) > 64:
            _READS.clear()
        reads = _READS[id(policies)] = (policies, facts_matched(policies))
    names, dated = reads[1]
    # a list (tags) keyed as a tuple marked as one: ``in`` tells a list from a tuple in a `when`
    key = (id(policies), at.date() if dated else None,
           *[(list, *v) if isinstance(v, list) else v for v in map(state.get, names)])
    try:
        known = _MATCHES.get(key)
    except TypeError:  # a fact that cannot be a key: matched afresh
        return match_policy(policies, state, at)
    if known is not None and known[0] is policies:
        return known[1]
    if len(_MATCHES) > _MARKS_KEPT:
        _MATCHES.clear()
    found = match_policy(policies, state, at)
    _MATCHES[key] = (policies, found)
    return found


@dataclass(slots=True)
class _Run:
    """The cycle being evaluated."""

    cycle: Cycle
    policy: PolicySpec
    cal: Calendar
    running_since: datetime | None
    fired: set[str] = field(default_factory=set)
    #: the thresholds of (policy, target) as last computed: a cycle asks for them at every stretch
    marks: tuple[PolicySpec, timedelta, list[tuple[timedelta, str, str, dict[str, Any]]]] | None = None


class _Evaluator:
    def __init__(self, facts: TicketFacts, policies: Sequence[PolicySpec], calendars: CalendarLookup, now: datetime) -> None:
        self.facts, self.policies, self.calendars, self.now = facts, policies, calendars, now
        self.events: list[SlaEvent] = []
        self.cycles: list[Cycle] = []
        # The last match: every metric's first cycle opens on the same facts at the same instant
        # (the request's created_at).
        self._matched: tuple[datetime, dict[str, Any], tuple[PolicySpec | None, list[Verdict]]] | None = None

    # -- helpers -----------------------------------------------------------------------
    def _emit(self, run: _Run, kind: str, at: datetime, used: timedelta, data: dict[str, Any] | None = None) -> None:
        cycle = run.cycle
        self.events.append(_event(cycle.metric, cycle.index, kind, at, used, at - cycle.start, {} if data is None else data))

    def _target(self, metric: str, policy: PolicySpec, state: Mapping[str, Any]) -> timedelta | None:
        priority = state.get("priority", "normal")
        return policy.targets.for_priority(metric, _PRIORITIES.get(priority) or Priority(priority))

    def _used(self, run: _Run, at: datetime) -> timedelta:
        if run.running_since is None:
            return run.cycle.used
        return run.cycle.used + business_between(run.cal, run.running_since, at)

    def _match(self, state: Mapping[str, Any], at: datetime) -> tuple[PolicySpec | None, list[Verdict]]:
        # the same instant object: an equal instant in another zone may fall on another date (`valid`)
        if self._matched is not None and self._matched[0] is at and self._matched[1] == state:
            return self._matched[2]
        found = _match_alike(self.policies, state, at)
        self._matched = (at, dict(state), found)
        return found

    def _thresholds(self, run: _Run) -> list[tuple[timedelta, str, str, dict[str, Any]]]:
        if run.marks is not None and run.marks[0] is run.policy and run.marks[1] == run.cycle.target:
            return run.marks[2]
        target = run.cycle.target
        known = _MARKS.get((id(run.policy), target))
        if known is not None and known[0] is run.policy:
            run.marks = (run.policy, target, known[1])
            return known[1]
        warn = run.policy.warn
        found: list[tuple[timedelta, str, str, dict[str, Any]]] = []
        warn_at = [target * warn.share] if warn.share is not None else []
        if warn.before is not None and warn.before < target:
            warn_at.append(target - warn.before)
        if warn_at:
            found.append((min(warn_at), "warn", "warn", {}))
        found.append((target, "breach", "breach", {}))
        for level, esc in enumerate(run.policy.escalations, start=1):
            found.append((target + esc.after, f"escalate:{level}", "escalate", {
                "level": level, "action": esc.action, "team": esc.team, **({"page_always": True} if esc.page_always else {})}))
        if len(_MARKS) > _MARKS_KEPT:
            _MARKS.clear()
        _MARKS[(id(run.policy), target)] = (run.policy, found)
        run.marks = (run.policy, target, found)
        return found

    def _advance(self, run: _Run, until: datetime) -> list[datetime]:
        """Fire the thresholds the running stretch [running_since, until) crosses; returns
        the instants of those still ahead (``_finish`` takes the next check from them)."""
        ahead: list[datetime] = []
        if run.running_since is None:
            return ahead
        start, used, fired, cycle = run.running_since, run.cycle.used, run.fired, run.cycle
        for amount, kind, event, data in self._thresholds(run):
            if kind in fired:
                continue
            if amount < used:
                fired.add(kind)
                continue
            at = add_business(run.cal, start, amount - used)
            if kind == "breach":
                cycle.due = at
            if at < until or at == until == self.now:
                fired.add(kind)
                self._emit(run, event, at, amount, dict(data))
                if kind == "breach" and cycle.state != "breached":
                    cycle.state = "breached"
                elif kind == "warn" and cycle.state == "on_track":
                    cycle.state = "warning"
            else:
                ahead.append(at)
        return ahead

    def _flag_gaps(self, run: _Run, end: datetime) -> None:
        """Note the calendar data the cycle's times were computed without (from its start to
        `end`): they stand on the weekly pattern and the layer's fixed rules, flagged."""
        for gap in run.cal.coverage_gaps(run.cycle.start, end):
            note = str(gap)
            if note not in run.cycle.notes:
                run.cycle.notes.append(note)
                self._emit(run, "beyond_data", run.cycle.start, _ZERO, {"calendar": run.cycle.calendar,
                           "layers": gap.coverage.name, "note": note})

    def _stop_running(self, run: _Run, at: datetime) -> None:
        self._advance(run, at)
        run.cycle.used = self._used(run, at)
        run.running_since = None

    # -- cycles ------------------------------------------------------------------------
    def _open(self, metric: str, index: int, at: datetime, state: Mapping[str, Any], *, paused: bool) -> _Run | None:
        policy, verdicts = self._match(state, at)
        if policy is None:
            return None
        target = self._target(metric, policy, state)
        if target is None:
            return None
        cal = self.calendars(policy.calendar)
        cycle = Cycle(metric, index, at, policy.name, policy.calendar, target)
        run = _Run(cycle, policy, cal, None if paused else at)
        self.cycles.append(cycle)
        why = verdicts[-1].reason  # the policy found: the last verdict (``match_policy``)
        self._emit(run, "activate", at, _ZERO)
        self._emit(run, "apply_policy", at, _ZERO, {"policy": policy.name, "reason": why, "calendar": policy.calendar,
                                                    "target_seconds": target.total_seconds()})
        if paused:
            cycle.state = "paused"
            self._emit(run, "pause", at, _ZERO, {"status": state.get("status")})
        return run

    def _replan(self, run: _Run, at: datetime, state: Mapping[str, Any]) -> None:
        policy, verdicts = self._match(state, at)
        if policy is None:
            return
        target = self._target(run.cycle.metric, policy, state)
        if target is None or (policy.name, policy.calendar, target) == (run.policy.name, run.policy.calendar, run.cycle.target):
            return
        was_running = run.running_since is not None
        self._stop_running(run, at)
        used = run.cycle.used
        run.policy, run.cal = policy, self.calendars(policy.calendar)
        old = (run.cycle.policy, run.cycle.target)
        run.cycle.policy, run.cycle.calendar, run.cycle.target = policy.name, policy.calendar, target
        run.fired = {k for k in run.fired if k == "warn" and used >= target} if used < target else run.fired
        if was_running:
            run.running_since = at
        if used >= target and "breach" not in run.fired:
            run.fired.update({"warn", "breach"})  # the new target is already used up: breached now
            run.cycle.due, run.cycle.state = at, "breached"
            self._emit(run, "breach", at, used, {"reason": "the new target was already used up when the policy changed"})
        elif used < target:
            run.cycle.due = None  # recomputed from the new target
        why = verdicts[-1].reason  # the policy found: the last verdict (``match_policy``)
        self._emit(run, "apply_policy", at, used, {
            "policy": policy.name, "reason": why, "calendar": policy.calendar, "target_seconds": target.total_seconds(),
            "previous_policy": old[0], "previous_target_seconds": old[1].total_seconds(),
            "rule": "business time already used stays used; the remaining time counts against the new target"})

    def _end(self, run: _Run, at: datetime, kind: str) -> None:
        self._stop_running(run, at)
        cycle = run.cycle
        cycle.ended_at = at
        if kind == "stop":
            cycle.state = "cancelled"
        else:
            cycle.state = "met" if cycle.used <= cycle.target else "missed"
        self._emit(run, kind, at, cycle.used, {"outcome": cycle.state})
        self._flag_gaps(run, at)

    def _finish(self, run: _Run | None) -> None:
        """The cycle still open at ``now``: fire what is due, compute due and next check."""
        if run is None or run.cycle.ended_at is not None:
            return
        pending = self._advance(run, self.now)  # the thresholds still ahead, as instants
        cycle, since = run.cycle, run.running_since
        if since is None:
            cycle.state, cycle.due = "paused", None
            self._flag_gaps(run, self.now)
            return
        before = cycle.used  # business time used before this stretch began
        cycle.next_check = min(pending) if pending else None
        if cycle.due is None and cycle.target >= before:
            cycle.due = add_business(run.cal, since, cycle.target - before)
        cycle.used = self._used(run, self.now)
        self._flag_gaps(run, max(self.now, cycle.due or self.now, cycle.next_check or self.now))

    # -- the walk ----------------------------------------------------------------------
    def run(self) -> Evaluation:
        facts = self.facts
        state: dict[str, Any] = dict(facts.initial)
        now = self.now
        changes = sorted([c for c in facts.changes if c.at <= now], key=_AT)
        for metric in ("first_response", "resolution"):
            self._metric(metric, dict(state), changes)
        self._next_response(dict(state), changes)
        self.events.sort(key=_ORDER)
        return Evaluation(self.events, self.cycles)

    def _status_effect(self, metric: str, run: _Run, status: TicketStatus, at: datetime) -> str | None:
        policy = run.policy
        if metric == "first_response" and status not in (TicketStatus.NEW, *policy.pause_on) and status not in policy.stop_on:
            return "fulfil"  # an agent took the request up
        if status in policy.stop_on:
            return "stop"
        if metric == "resolution" and status in policy.fulfil_on:
            return "fulfil"
        if status in policy.pause_on:
            return "pause"
        return "resume"

    def _metric(self, metric: str, state: dict[str, Any], changes: list[Change]) -> None:
        facts = self.facts
        status = _status(state.get("status", "new"))
        run = self._open(metric, 1, facts.created_at, state, paused=False)
        if run is None:
            return
        index = 1
        explicit_fr = facts.first_response_at if metric == "first_response" else None
        # a request first seen already finished ends at the instant 1C recorded, if any
        if status != TicketStatus.NEW or explicit_fr is not None:
            effect = self._status_effect(metric, run, status, facts.created_at)
            if effect in ("fulfil", "stop"):
                end_at = explicit_fr if metric == "first_response" and explicit_fr else (
                    facts.resolved_at or facts.closed_at or facts.created_at) if metric == "resolution" else facts.created_at
                end_at = max(facts.created_at, min(end_at, self.now))
                self._end(run, end_at, effect)
            elif effect == "pause":
                self._stop_running(run, facts.created_at)
                run.cycle.state = "paused"
                self._emit(run, "pause", facts.created_at, _ZERO, {"status": status.value})
        for change in changes:
            if explicit_fr is not None and run.cycle.ended_at is None and explicit_fr <= change.at:
                self._end(run, max(explicit_fr, run.cycle.start), "fulfil")
            if change.field == "status":
                status = _status(change.value)
                state["status"] = status.value
                if run.cycle.ended_at is not None:
                    reopened = metric == "resolution" and status not in (*run.policy.fulfil_on, *run.policy.stop_on)
                    if reopened:
                        index += 1
                        new_run = self._open(metric, index, change.at, state, paused=status in run.policy.pause_on)
                        if new_run is not None:
                            self._emit(new_run, "reopen", change.at, _ZERO, {"previous_cycle": index - 1})
                            run = new_run
                    continue
                effect = self._status_effect(metric, run, status, change.at)
                if effect in ("fulfil", "stop"):
                    if not (metric == "first_response" and explicit_fr is not None):
                        self._end(run, change.at, effect)
                elif effect == "pause" and run.running_since is not None:
                    self._stop_running(run, change.at)
                    run.cycle.state = "paused"
                    self._emit(run, "pause", change.at, run.cycle.used, {"status": status.value})
                elif effect == "resume" and run.running_since is None:
                    run.running_since = change.at
                    run.cycle.state = "breached" if "breach" in run.fired else "warning" if "warn" in run.fired else "on_track"
                    self._emit(run, "resume", change.at, run.cycle.used, {"status": status.value})
            elif change.field != "message":
                state[change.field] = change.value
                if run.cycle.ended_at is None:
                    self._replan(run, change.at, state)
        if explicit_fr is not None and run.cycle.ended_at is None and explicit_fr <= self.now:
            self._end(run, max(explicit_fr, run.cycle.start), "fulfil")
        self._finish(run)

    def _next_response(self, state: dict[str, Any], changes: list[Change]) -> None:
        """A cycle from each customer message to the next agent message."""
        run: _Run | None = None
        index = 0
        for change in changes:
            if change.field != "message":
                state[change.field] = change.value
                if run is not None and run.cycle.ended_at is None:
                    self._replan(run, change.at, state)
                continue
            if change.value == "customer" and (run is None or run.cycle.ended_at is not None):
                index += 1
                run = self._open("next_response", index, change.at, state, paused=False)
            elif change.value == "agent" and run is not None and run.cycle.ended_at is None:
                self._end(run, change.at, "fulfil")
        self._finish(run)


def evaluate(facts: TicketFacts, policies: Sequence[PolicySpec], calendars: CalendarLookup, now: datetime) -> Evaluation:
    """Every SLA event up to `now` and the state of every cycle. Same input, same output.

    Raises:
        NaiveDatetimeError: an instant without a time zone.
        KeyError: a policy names a calendar `calendars` does not know (configuration
            validation catches this first).
    """
    return _Evaluator(facts, policies, calendars, now).run()

