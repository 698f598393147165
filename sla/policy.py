"""SLA policies: an ordered list, first match wins, and the reasons for every verdict.

```yaml
sla:
  policies:
    - name: urgent requests
      match: {type: [urgent]}
      calendar: 24x7
      targets: {first_response: 30m, resolution: 4h}
    - name: key accounts, e-mail
      match: {segment: [key], channel: [email], when: "priority in ('high', 'urgent')"}
      calendar: office
      targets: {first_response: 1h, resolution: {urgent: 4h, high: 8h, normal: 16h, low: 24h}}
      valid: {from: 2026-01-01, to: 2026-12-31}   # a contract that expires
      pause_on: [waiting_customer]
      warn: {share: 0.75, before: 30m}
      escalations:
        - {after: 0m, action: notify_supervisor}
        - {after: 2h, action: reassign, team: L2}
```

Matching is pure: ``match_policy(policies, facts, at)`` returns the first policy whose
conditions all hold, and for ``sla explain`` the verdict of every policy with its reason.
The ``when`` expression is parsed into a restricted AST (comparisons, ``and/or/not``,
``in``, literals and ticket field names) — never ``eval``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from crm_bridge.config import Strict
from crm_bridge.model import Channel, Priority, Source, TicketStatus, TicketType

__all__ = [
    "MAX_DURATION",
    "MAX_WHEN_DEPTH",
    "METRICS",
    "Duration",
    "Escalation",
    "Match",
    "PolicySpec",
    "Targets",
    "Verdict",
    "Warn",
    "facts_matched",
    "fields_read",
    "match_policy",
    "parse_duration",
]

METRICS = ("first_response", "next_response", "resolution")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


#: The longest duration a policy may name (targets, warn ``before``, escalation ``after``).
#: Business time runs slower than the clock (an office week has 40 hours), so 5 years of
#: it reach decades ahead; anything longer is a typo, and past year 3999 1C cannot store it.
MAX_DURATION = timedelta(days=5 * 365)


@lru_cache(maxsize=1024)  # a configuration names the same few durations thousands of times
def _seconds(value: str) -> float | None:
    text = value.strip().upper().removeprefix("PT").lower() if value.strip().upper().startswith("PT") else value.strip()
    parts = _PART.findall(text)
    if parts and _PART.sub("", text).strip() == "":
        return sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    return None


def parse_duration(value: object) -> timedelta:
    """``"4h"``, ``"1h30m"``, ``"90s"``, ``"2d"`` (2×24 h of business time), ``PT4H`` or seconds.

    Raises:
        ValueError: not a duration, or not a finite one that fits a ``timedelta``.
    """
    if isinstance(value, timedelta):
        return value
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        seconds = _seconds(value)
    if seconds is None:
        msg = (f"{value!r} is not a duration; write a number and a unit without spaces: 90s, 30m, 4h, "
               "1h30m or 2d (days of 24 business hours), or ISO 8601 such as PT4H")
        raise ValueError(msg)
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError) as exc:  # 9999999999d, .inf, .nan
        msg = f"{value!r} is not a usable duration (at most {MAX_DURATION.days}d); write e.g. 4h or 2d"
        raise ValueError(msg) from exc


def _bounded(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration < timedelta(0):
        msg = "a duration cannot be negative"
        raise ValueError(msg)
    if duration > MAX_DURATION:
        msg = (f"{value!r} is longer than {MAX_DURATION.days}d (5 years), the longest a policy may name; "
               "an SLA target or escalation is hours or days, e.g. 8h or 5d")
        raise ValueError(msg)
    return duration


def _per_priority(value: object) -> object:
    """One duration, or one per priority: checked here so a problem is reported once, at
    the value, rather than once per member of the union."""
    if not isinstance(value, dict):
        return _bounded(value)
    unknown = [str(k) for k in value if k not in Priority.__members__.values()]
    if unknown:
        msg = f"unknown priority {', '.join(unknown)}; per-priority targets use {', '.join(Priority)}"
        raise ValueError(msg)
    return {Priority(k): _bounded(v) for k, v in value.items()}


Duration = Annotated[timedelta, BeforeValidator(_bounded)]
PerPriority = Annotated[timedelta | dict[Priority, timedelta], BeforeValidator(_per_priority)]


class Targets(Strict):
    first_response: PerPriority | None = None
    next_response: PerPriority | None = None
    resolution: PerPriority | None = None

    def for_priority(self, metric: str, priority: Priority) -> timedelta | None:
        value: Any = getattr(self, metric)
        if isinstance(value, dict):
            found: timedelta | None = value.get(priority)
            return found
        single: timedelta | None = value
        return single


class Warn(Strict):
    share: float | None = Field(default=0.75, gt=0, lt=1)  # warn when this share of the target is used
    before: Duration | None = None  # and/or this much business time before the due instant


class Escalation(Strict):
    after: Duration = timedelta(0)  # business time after the breach
    action: Literal["notify_supervisor", "reassign", "raise_priority"]
    team: str | None = None
    page_always: bool = False  # notify's alerts of this level reach agents off shift too (default: at the shift's start)

    @model_validator(mode="after")
    def _team_for_reassign(self) -> Escalation:
        if self.action == "reassign" and not self.team:
            msg = "action reassign needs a team: add `team: <name>`"
            raise ValueError(msg)
        return self


class Validity(Strict):
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None


_FIELDS = ("type", "priority", "channel", "source", "status", "customer", "segment", "contract", "team", "tags", "number", "subject")


class Match(Strict):
    """Every given condition must hold; a list means "any of"."""

    type: list[TicketType] | None = None
    priority: list[Priority] | None = None
    channel: list[Channel] | None = None
    source: list[Source] | None = None
    customer: list[str] | None = None  # customer name or tax id (ИНН)
    segment: list[str] | None = None
    contract: list[str] | None = None
    team: list[str] | None = None
    tags: list[str] | None = None  # any of these tags
    when: str | None = None  # e.g. "channel == 'email' and priority in ('high', 'urgent')"
    #: The names a `when` may use; a subclass that matches more facts (routing's
    #: ``language``) lists them here.
    when_fields: ClassVar[tuple[str, ...]] = _FIELDS

    @field_validator("when")
    @classmethod
    def _safe(cls, value: str | None) -> str | None:
        if value is not None:
            _compile(value, cls.when_fields)
        return value

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Match:
        """A copy; with `update`, the conditions derived from the old values (``reason``,
        ``listed``: cached on first use, and pydantic copies the cache) are worked out anew."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            for name in ("reason", "listed"):
                copy.__dict__.pop(name, None)
        return copy

    def why_not(self, facts: Mapping[str, Any]) -> str | None:
        """None when every condition holds for a request's `facts` (the keys of
        ``TicketFacts.initial``: type, priority, channel, source, customer, customer_tax_id,
        segment, contract, team, tags, ...); else the first that fails, as a person reads it.
        The routing addon matches its rules with this too."""
        for name, wanted, listed in self.listed:
            value = facts.get(name)
            if not isinstance(value, Hashable) or value not in wanted:
                return f"{name} is {value!r}, not one of {listed}"
        if self.customer is not None and not ({facts.get("customer"), facts.get("customer_tax_id")} & set(self.customer)):
            return f"customer {facts.get('customer')!r} is not one of {', '.join(self.customer)}"
        if self.tags is not None and not set(facts.get("tags") or ()) & set(self.tags):
            return f"no tag of {', '.join(self.tags)}"
        if self.when is not None and not _evaluate(_compile(self.when, self.when_fields), facts):
            return f"`{self.when}` is false"
        return None

    @cached_property
    def reason(self) -> str:
        """Why a request this matches was matched: the conditions, as a person reads them."""
        conditions = [f"{k} in {', '.join(map(str, v))}" for k, v in self.model_dump(exclude_none=True).items() if k != "when"]
        if self.when:
            conditions.append(f"`{self.when}`")
        return "; ".join(conditions) or "matches every request"

    @cached_property
    def listed(self) -> tuple[tuple[str, frozenset[str], str], ...]:
        """Each "any of" condition on a single field: (field, the values as text, as listed)."""
        found = []
        for name in ("type", "priority", "channel", "source", "segment", "contract", "team"):
            wanted = getattr(self, name)
            if wanted is not None:
                found.append((name, frozenset(str(w) for w in wanted), ", ".join(str(w) for w in wanted)))
        return tuple(found)


class PolicySpec(Strict):
    name: str = Field(min_length=1)
    match: Match = Match()
    calendar: str = Field(min_length=1)
    targets: Targets
    valid: Validity | None = None
    pause_on: list[TicketStatus] = [TicketStatus.WAITING_CUSTOMER]
    fulfil_on: list[TicketStatus] = [TicketStatus.RESOLVED, TicketStatus.CLOSED]
    stop_on: list[TicketStatus] = [TicketStatus.CANCELLED]
    warn: Warn = Warn()
    escalations: list[Escalation] = []

    @model_validator(mode="after")
    def _has_targets(self) -> PolicySpec:
        if all(getattr(self.targets, m) is None for m in METRICS):
            msg = f"policy {self.name!r} has no targets; give at least one of {', '.join(METRICS)} (e.g. resolution: 8h)"
            raise ValueError(msg)
        return self


# -- the safe expression ---------------------------------------------------------------
#: How deeply a ``when`` may nest (``not``, brackets, and/or): real conditions need 3 or 4.
MAX_WHEN_DEPTH = 50
_MAX_WHEN_LENGTH = 2000  # characters; Python's own parser overflows on ~3,000 nested `not`
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq, ast.NotEq,
            ast.In, ast.NotIn, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Name, ast.Load, ast.Constant, ast.Tuple, ast.List)


# A policy's `when` is parsed once, not at every match (the tree is only read). The cache
# holds every expression of a large configuration (10,000 policies), so that neither
# `fields_read` nor a tick parses one again.
@lru_cache(maxsize=1 << 16)
def _compile(expression: str, fields: tuple[str, ...] = _FIELDS) -> ast.Expression:
    too_deep = (f"`when` nests deeper than {MAX_WHEN_DEPTH} levels (not, brackets, and/or), the most allowed; "
                "write the condition flatter, e.g. `type in ('a', 'b')` instead of a chain of `or`")
    if len(expression) > _MAX_WHEN_LENGTH:
        msg = (f"`when` is {len(expression):,} characters, more than the {_MAX_WHEN_LENGTH:,} allowed; "
               "match on lists (type: [...], team: [...]) and keep `when` for what they cannot say")
        raise ValueError(msg)
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        msg = f"`when` is not a valid expression: {exc.msg} (at column {exc.offset})"
        raise ValueError(msg) from exc
    except (RecursionError, MemoryError) as exc:  # Python's parser gives up on deep nesting
        raise ValueError(too_deep) from exc
    depth = {id(tree): 0}
    for node in ast.walk(tree):
        level = depth[id(node)]
        if level > MAX_WHEN_DEPTH:  # _evaluate recurses once per level
            raise ValueError(too_deep)
        for child in ast.iter_child_nodes(node):
            depth[id(child)] = level + 1
        if not isinstance(node, _ALLOWED):
            msg = (f"`when` may only compare ticket fields ({', '.join(fields)}) with literals using "
                   f"== != < <= > >= in, and/or/not; {type(node).__name__} is not allowed")
            raise ValueError(msg)  # noqa: TRY004 - pydantic reports ValueError as a field error
        if isinstance(node, ast.Name) and node.id not in fields:
            msg = f"`when` uses unknown field {node.id!r}; fields: {', '.join(fields)}"
            raise ValueError(msg)
    return tree


def _evaluate(node: ast.AST, facts: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, facts)
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, facts) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _evaluate(node.operand, facts)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return facts.get(node.id)
    if isinstance(node, ast.Tuple | ast.List):
        return [_evaluate(e, facts) for e in node.elts]
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, facts)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, facts)
            try:
                ok = _compare(op, left, right)
            except TypeError:
                return False
            if not ok:
                return False
            left = right
        return True
    msg = f"unsupported node {type(node).__name__}"  # excluded by _compile
    raise ValueError(msg)


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    if isinstance(op, ast.In):
        return left in right if not isinstance(left, list) else bool(set(left) & set(right))
    if isinstance(op, ast.NotIn):
        return left not in right
    if isinstance(op, ast.Eq):
        return bool(left == right)
    if isinstance(op, ast.NotEq):
        return bool(left != right)
    if isinstance(op, ast.Lt):
        return bool(left < right)
    if isinstance(op, ast.LtE):
        return bool(left <= right)
    if isinstance(op, ast.Gt):
        return bool(left > right)
    return bool(left >= right)


# -- matching ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    policy: PolicySpec
    matched: bool
    reason: str


def _check(policy: PolicySpec, facts: Mapping[str, Any], at: datetime) -> str | None:
    """None when `policy` applies to `facts` at `at`; else why not."""
    if policy.valid is not None:
        day = at.date()
        if policy.valid.from_ and day < policy.valid.from_:
            return f"valid from {policy.valid.from_}"
        if policy.valid.to and day > policy.valid.to:
            return f"expired on {policy.valid.to}"
    return policy.match.why_not(facts)


#: a fact the matching reads -> the request field it comes from
_FACT_SOURCE = {"customer": "customer_id", "customer_tax_id": "customer_id", "segment": "customer_id", "team": "team_id"}


def fields_read(policies: Sequence[PolicySpec]) -> frozenset[str]:
    """The request fields the policies' matching reads: a change to any other field
    cannot change which policy applies (``when`` expressions included)."""
    facts: set[str] = set()
    for policy in policies:
        m = policy.match
        facts |= {name for name in ("type", "priority", "channel", "source", "segment", "contract", "team", "tags")
                  if getattr(m, name) is not None}
        if m.customer is not None:
            facts.add("customer")
        if m.when is not None:
            facts |= {node.id for node in ast.walk(_compile(m.when)) if isinstance(node, ast.Name)}
    return frozenset(_FACT_SOURCE.get(fact, fact) for fact in facts)


def facts_matched(policies: Sequence[PolicySpec]) -> tuple[tuple[str, ...], bool]:
    """(the facts ``match_policy`` reads of a request, whether it reads the instant too):
    two requests alike in these are matched alike (``sla.clock`` reuses the verdicts)."""
    names: dict[str, None] = {}
    for policy in policies:
        m = policy.match
        names.update(dict.fromkeys(name for name, _, _ in m.listed))
        if m.customer is not None:
            names.update(dict.fromkeys(("customer", "customer_tax_id")))
        if m.tags is not None:
            names["tags"] = None
        if m.when is not None:
            names.update(dict.fromkeys(node.id for node in ast.walk(_compile(m.when, m.when_fields))
                                       if isinstance(node, ast.Name)))
    return tuple(names), any(p.valid is not None for p in policies)


def match_policy(policies: Sequence[PolicySpec], facts: Mapping[str, Any], at: datetime) -> tuple[PolicySpec | None, list[Verdict]]:
    """The first policy that applies, and the verdict of each policy up to it (all, if none)."""
    verdicts: list[Verdict] = []
    for policy in policies:
        why_not = _check(policy, facts, at)
        if why_not is None:
            verdicts.append(Verdict(policy, matched=True, reason=policy.match.reason))
            return policy, verdicts
        verdicts.append(Verdict(policy, matched=False, reason=why_not))
    return None, verdicts
