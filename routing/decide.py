"""The routing decision: which agent takes a request, and why every other one did not.

Pure: no clock, no I/O, no store. The edge (``routing.engine``) reads the agents' state
(their load, status, shift and leave) once per batch and passes it in::

    decision = decide(request, config.rules, agents, pointers)
    if decision.agent is not None: ...          # assign; decision.pointer moves round robin on
    print(decision.reason)                       # "least loaded: 2 open of 8 (next: Петров, 3)"
    for c in decision.considered: print(c.key, c.excluded or c.why)

Eligibility, in the order the reasons are checked (the first that fails is reported):
known to the CRM, active there, capacity above 0, ``available``, not on leave, on shift,
has the rule's skills and languages, under capacity for this request. Ties always break
the same way: the configuration's order of agents (a team's member list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Literal, NamedTuple

from routing.settings import Capacity, RuleSpec
from routing.weighted import choose_weighted

__all__ = ["AgentState", "Considered", "Decision", "Memo", "RequestFacts", "choose", "decide", "load_of", "match_rule"]

Status = Literal["available", "away", "offline"]
Outcome = Literal["assigned", "queued", "manual"]


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent as the decision sees it at one instant.

    ``open_by_type``: the agent's open requests (statuses that count as load) per type;
    ``off_shift_until``: None when on shift now, else when the next shift starts;
    ``on_leave_until``: the last day of the leave they are on now, else None;
    ``load``: the weighted load (``load_of``), computed once when the state is made — a
    decision reads every pool member's load, and recounting it each time was most of
    the decision's cost.
    """

    key: str  # the configuration's key (the CRM user's name or e-mail)
    name: str
    agent_id: int | None  # the local id; None: no such user synced from the CRM
    active: bool = True
    status: Status = "available"
    off_shift_until: datetime | None = None
    on_leave_until: date | None = None
    capacity: Capacity = field(default_factory=Capacity)
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset()
    open_by_type: Mapping[str, int] = field(default_factory=dict)
    weight: float = 1.0  # method weighted: the agent's share
    on_leave_from: date | None = None  # the first day of the leave they are on now (``crm-bridge status``'s "since")
    load: float = field(init=False, repr=False, compare=False, default=0.0)

    def __post_init__(self) -> None:
        weight = self.capacity.weight
        object.__setattr__(self, "load", float(sum(n * weight(t) for t, n in self.open_by_type.items())))

    def with_one_more(self, request_type: str) -> AgentState:
        """The state after this agent took a request of `request_type`."""
        counts = dict(self.open_by_type)
        counts[request_type] = counts.get(request_type, 0) + 1
        return replace(self, open_by_type=counts)

    def with_one_less(self, request_type: str) -> AgentState:
        counts = dict(self.open_by_type)
        counts[request_type] = max(0, counts.get(request_type, 0) - 1)
        return replace(self, open_by_type=counts)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the rules match on (``facts``: type, priority, channel, source, customer,
    customer_tax_id, segment, contract, team, tags, language) and the request's type for load.
    ``last_agent``: the key of the agent who last served this customer (rule option
    ``prefer_last_agent``), None: nobody or unknown."""

    number: str
    type: str
    facts: Mapping[str, object]
    last_agent: str | None = None


class Considered(NamedTuple):
    """One agent as a decision saw them (a tuple: a decision makes one per pool member)."""

    key: str
    name: str
    excluded: str | None  # why not eligible, e.g. "off shift until 14:00"; None: eligible
    load: float = 0.0
    why: str = ""  # for the winner: why it won


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    rule: str | None  # the rule that matched
    agent: str | None  # the chosen agent's key
    reason: str  # why this agent, or why nobody
    considered: tuple[Considered, ...] = ()
    rules_checked: tuple[tuple[str, str], ...] = ()  # (rule, why it did not match) for the rules before
    pointer: int | None = None  # round robin: the pool position to start from next time
    credits: Mapping[str, float] | None = None  # weighted: the eligible agents' new credits for this rule


def load_of(agent: AgentState) -> float:
    """The agent's weighted load: each open request counts its type's weight (default 1)."""
    return agent.load


@lru_cache(maxsize=256)  # a few shift starts, asked about at every decision
def _hhmm(instant: datetime, now: datetime) -> str:
    return instant.strftime("%H:%M") if instant.date() == now.date() else instant.strftime("%Y-%m-%d %H:%M")


#: ``decide``'s `memo`: (rule name, request language, request type) → agent key → why the
#: agent is out whatever their load, or what the load is checked against: (the request's
#: weight for them, their per-type limit or None, their capacity)
Memo = dict[tuple[str | None, str | None, str], dict[str, "str | tuple[float, int | None, int]"]]


def _excluded(agent: AgentState, rule: RuleSpec | None, request_type: str, now: datetime, *,
              language: str | None = None) -> str | None:
    """Why `agent` cannot take the request now, or None."""
    fit = _fit(agent, rule, request_type, now, language)
    return fit if isinstance(fit, str) else _over(agent, request_type, fit)


def _fit(agent: AgentState, rule: RuleSpec | None, request_type: str, now: datetime,
         language: str | None) -> str | tuple[float, int | None, int]:
    """Why `agent` is out whatever their load, else what their load is checked against."""
    fixed = _fixed(agent, rule, now, language)
    if fixed is not None:
        return fixed
    return agent.capacity.weight(request_type), agent.capacity.limit(request_type), agent.capacity.max


def _over(agent: AgentState, request_type: str, fit: tuple[float, int | None, int]) -> str | None:
    """Why the request does not fit under `agent`'s capacity, or None."""
    weight, limit, most = fit
    if agent.load + weight > most:
        return f"at capacity {agent.load:g}/{most}"
    if limit is not None and agent.open_by_type.get(request_type, 0) + 1 > limit:
        return f"at capacity for {request_type} {agent.open_by_type.get(request_type, 0)}/{limit}"
    return None


def _fixed(agent: AgentState, rule: RuleSpec | None, now: datetime, language: str | None) -> str | None:
    """Why `agent` cannot take the request whatever their load (the CRM, availability,
    leave, shift, skills, languages), or None."""
    if agent.agent_id is None:
        return "not among the CRM's users (check the name or e-mail under routing.agents)"
    if not agent.active:
        return "deactivated in the CRM"
    if agent.capacity.max == 0:
        return "capacity 0: never assigned automatically"
    if agent.status != "available":
        return agent.status
    if agent.on_leave_until is not None:
        return f"on leave until {agent.on_leave_until.isoformat()}"
    if agent.off_shift_until is not None:
        return f"off shift until {_hhmm(agent.off_shift_until, now)}"
    if rule is not None:
        for skill, level in rule.skills.items():
            has = agent.skills.get(skill, 0)
            if has < level:
                return f"missing skill {skill} {level} (has {has})" if has else f"missing skill {skill}"
        if rule.languages and not agent.languages & set(rule.languages):
            return f"speaks none of {', '.join(rule.languages)}"
    if language is not None and agent.languages and language not in agent.languages:
        return f"does not speak {language} (speaks {', '.join(sorted(agent.languages))})"
    return None


def match_rule(rules: Sequence[RuleSpec], facts: Mapping[str, object]) -> tuple[RuleSpec | None, list[tuple[str, str]]]:
    """The first rule whose conditions hold, and why each rule before it did not."""
    skipped: list[tuple[str, str]] = []
    for rule in rules:
        why_not = rule.match.why_not(facts)
        if why_not is None:
            return rule, skipped
        skipped.append((rule.name, why_not))
    return None, skipped


def _skill_score(agent: AgentState, rule: RuleSpec) -> int:
    return sum(agent.skills.get(s, 0) for s in rule.skills)


def choose(method: str, rule: RuleSpec | None, eligible: Sequence[tuple[int, AgentState]], pool_size: int,
           pointer: int) -> tuple[int, str, int | None]:
    """Pick among `eligible` ((position in the pool, state), in pool order, not empty).

    Returns (index into `eligible`, why it won, the new round-robin pointer or None).
    """
    if method == "round_robin":
        start = pointer % pool_size
        index = next((i for i, (pos, _) in enumerate(eligible) if pos >= start), 0)
        position = eligible[index][0]
        skipped = (position - start) % pool_size
        why = "round robin: next in the rotation" + (f" ({skipped} skipped: not eligible)" if skipped else "")
        return index, why, position + 1
    loads = [a.load for _, a in eligible]
    if method == "skills" and rule is not None and rule.skills:
        scores = [_skill_score(a, rule) for _, a in eligible]
        index = min(range(len(eligible)), key=lambda i: (-scores[i], loads[i], i))
        runner = min((i for i in range(len(eligible)) if i != index), key=lambda i: (-scores[i], loads[i], i), default=None)
        why = f"best skill match ({_skills(eligible[index][1], rule)})"
        if runner is not None and scores[runner] == scores[index]:
            why += f", then least loaded: {loads[index]:g} open (next: {eligible[runner][1].name}, {loads[runner]:g})"
        return index, why, None
    index = min(range(len(eligible)), key=lambda i: (loads[i], i))
    runner = min((i for i in range(len(eligible)) if i != index), key=lambda i: (loads[i], i), default=None)
    why = f"least loaded: {loads[index]:g} open of {eligible[index][1].capacity.max}"
    if runner is not None:
        tie = " (a tie, broken by the configured order)" if loads[runner] == loads[index] else ""
        why += f" (next: {eligible[runner][1].name}, {loads[runner]:g}){tie}"
    return index, why, None


def _skills(agent: AgentState, rule: RuleSpec) -> str:
    return ", ".join(f"{s} {agent.skills.get(s, 0)}" for s in rule.skills)


def decide(request: RequestFacts, rules: Sequence[RuleSpec], pools: Mapping[str | None, Sequence[AgentState]],
           pointers: Mapping[str, int], now: datetime, *, exclude: frozenset[str] = frozenset(),
           credits: Mapping[str, Mapping[str, float]] | None = None, memo: Memo | None = None) -> Decision:
    """Route one request.

    Args:
        request: the request's facts.
        rules: the ordered rules; the first that matches decides team and method.
        pools: the agents each team draws from, in configuration order, by team name;
            key ``None``: every configured agent (a rule that names no team).
        pointers: round-robin positions by rule name (0 when missing).
        now: the decision instant (aware), for the "off shift until" wording only.
        exclude: agent keys never to choose (the current assignee, on reassignment).
        credits: method weighted: each agent's credit by rule name, then agent key.
        memo: a dict the caller keeps (empty at first) across decisions at the same `now`
            over agents whose state changes only by their load (one tick's chunk): the
            reasons that do not depend on the load are then worked out once per agent.

    Returns:
        The decision; ``outcome`` "assigned" with ``agent``, "queued" (nobody eligible
        now, or no rule matched) or "manual" (the rule leaves it to a supervisor).
    """
    rule, skipped = match_rule(rules, request.facts)
    if rule is None:
        return Decision("queued", None, None, "no rule matches this request", rules_checked=tuple(skipped))
    if rule.method == "manual":
        return Decision("manual", rule.name, None, f"rule {rule.name!r} leaves it to a supervisor (method manual)",
                        rules_checked=tuple(skipped))
    pool = pools.get(rule.team, ())
    considered: list[Considered] = []
    eligible: list[tuple[int, AgentState]] = []
    language, kind = _language(request), request.type
    known = memo.setdefault((rule.name, language, kind), {}) if memo is not None else {}
    for position, agent in enumerate(pool):
        fit = known.get(agent.key)
        if fit is None:
            fit = known[agent.key] = _fit(agent, rule, kind, now, language)
        if agent.key in exclude:
            why_not: str | None = "the current assignee"
        elif isinstance(fit, str):
            why_not = fit
        elif agent.load + fit[0] <= fit[2] and fit[1] is None:  # the common case, without a call
            why_not = None
        else:
            why_not = _over(agent, kind, fit)
        considered.append(Considered(agent.key, agent.name, why_not, agent.load))
        if why_not is None:
            eligible.append((position, agent))
    team = f"team {rule.team}" if rule.team else "the configured agents"
    if not pool:
        return Decision("queued", rule.name, None, f"{team} has no agents", tuple(considered), tuple(skipped))
    if not eligible:
        return Decision("queued", rule.name, None, f"nobody in {team} is eligible now: {_tally(considered)}",
                        tuple(considered), tuple(skipped))
    last, prefix = _last_agent(request, rule, eligible, considered)
    new_credits: dict[str, float] | None = None
    if rule.method == "weighted":
        index, why, new_credits = choose_weighted(eligible, (credits or {}).get(rule.name, {}), forced=last)
        pointer = None
    elif last is not None:
        index, why, pointer = last, "", None
    else:
        index, why, pointer = choose(rule.method, rule, eligible, len(pool), pointers.get(rule.name, 0))
    if last is not None:
        why = f"served this customer last ({eligible[last][1].name} is eligible)" + (f"; {why}" if why else "")
    why = prefix + why
    position, winner = eligible[index]
    considered[position] = considered[position]._replace(why=why)  # one entry per pool position
    return Decision("assigned", rule.name, winner.key, why, tuple(considered), tuple(skipped), pointer, new_credits)


def _language(request: RequestFacts) -> str | None:
    value = request.facts.get("language")
    return value if isinstance(value, str) else None


def _last_agent(request: RequestFacts, rule: RuleSpec, eligible: Sequence[tuple[int, AgentState]],
                considered: Sequence[Considered]) -> tuple[int | None, str]:
    """Rule option ``prefer_last_agent``: the index of the customer's last agent among the
    eligible, or None and why they were passed over (a prefix for the reason)."""
    if not rule.prefer_last_agent or request.last_agent is None:
        return None, ""
    index = next((i for i, (_, a) in enumerate(eligible) if a.key == request.last_agent), None)
    if index is not None:
        return index, ""
    seen = next((c for c in considered if c.key == request.last_agent), None)
    name = seen.name if seen is not None else request.last_agent
    why_not = (seen.excluded if seen is not None else None) or "not in the rule's pool"
    return None, f"the customer's last agent {name} is not eligible ({why_not}); "


def _tally(considered: Sequence[Considered]) -> str:
    """"2 off shift, 1 at capacity": the exclusions grouped by their first words."""
    counts: dict[str, int] = {}
    for c in considered:
        if c.excluded is not None:
            kind = " ".join(c.excluded.split()[:2]) if c.excluded.startswith(("off", "at", "on", "missing")) else c.excluded
            counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in counts.items())
