"""The ``routing:`` configuration section: agents, teams and the ordered rules.

Agents are the CRM's users as synced (``crm-bridge`` imports 1C's ``Catalog_Пользователи``)
enriched here, keyed by the user's name or e-mail as synced::

    routing:
      agent_defaults: {capacity: 8, schedule: office}   # every active CRM user not listed below
      exclude: [Интеграция (служебный)]                  # ... but these
      agents:
        Иванова Мария Петровна:
          skills: {1c-accounting: 3, edo: 1}
          languages: [ru, en]
          capacity: {max: 8, per_type: {urgent: 2}, weights: {urgent: 2}}
          schedule: office                                # a calendar of the sla section
          time_off: [{from: 2026-12-28, to: 2027-01-08}]
          team: L1
      teams:
        L1: {members: [Иванова Мария Петровна], lead: Иванова Мария Петровна, schedule: office}
      rules:                                              # first match wins
        - {name: accounting, match: {tags: [accounting]}, team: L1, method: skills, skills: {1c-accounting: 2}}
        - {name: everything else, method: round_robin}
      on_low_csat: {assign_to: lead}                      # a low rating: a follow-up for the team lead

Without agents (none listed, no ``agent_defaults``) routing is off: nothing is assigned.
A name this section does not define — a team, an agent, a skill nobody has, a calendar
the ``sla`` section does not define — is an error at its line, with a suggestion.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator, model_validator

from crm_bridge.config import Strict, config_problem
from crm_bridge.errors import did_you_mean
from crm_bridge.model import TicketStatus, TicketType
from routing.language import CustomerLanguage, RoutingMatch
from routing.timeoff import TimeOffFileError, read_time_off

__all__ = ["AgentSpec", "Capacity", "CoExecutorSpec", "Leave", "Method", "OnLowCsat", "Reroute", "RoutingConfig", "RuleSpec",
           "TeamSpec"]

Method = Literal["round_robin", "least_loaded", "skills", "manual", "weighted"]
_OPEN = [s for s in TicketStatus if s.is_open]


_MOST = 10_000  # open requests one agent carries: more is a typo (and unbounded `inf` or `nan` loads)


class Capacity(Strict):
    """How much open work an agent carries: at most `max` load, where a request weighs
    ``weights[type]`` (default 1), and at most ``per_type[type]`` requests of a type.
    ``max: 0`` means never assigned automatically."""

    max: int = Field(default=8, ge=0, le=_MOST)
    per_type: dict[TicketType, Annotated[int, Field(le=_MOST)]] = {}
    weights: dict[TicketType, Annotated[float, Field(allow_inf_nan=False, le=100)]] = {}

    def weight(self, request_type: str) -> float:
        """What a request of `request_type` adds to the load (StrEnum keys equal their text)."""
        return self.weights.get(request_type, 1.0)  # type: ignore[call-overload,no-any-return]

    def limit(self, request_type: str) -> int | None:
        """The most open requests of `request_type` the agent carries, or None (no limit)."""
        return self.per_type.get(request_type)  # type: ignore[call-overload,no-any-return]

    @field_validator("per_type")
    @classmethod
    def _non_negative(cls, value: dict[TicketType, int]) -> dict[TicketType, int]:
        if any(v < 0 for v in value.values()):
            msg = "a per-type capacity cannot be negative (0: never this type)"
            raise ValueError(msg)
        return value

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: dict[TicketType, float]) -> dict[TicketType, float]:
        if any(v <= 0 for v in value.values()):
            msg = "a weight must be above 0 (a request of weight 2 counts as two)"
            raise ValueError(msg)
        return value


class Leave(Strict):
    """Days off, both ends included, in the configuration's time zone."""

    from_: date = Field(alias="from")
    to: date

    @model_validator(mode="after")
    def _ordered(self) -> Leave:
        if self.to < self.from_:
            msg = f"time off ends ({self.to}) before it starts ({self.from_}); swap from and to"
            raise ValueError(msg)
        return self


class AgentSpec(Strict):
    skills: dict[str, int] = {}  # skill -> level (1 basic .. 5 expert)
    languages: list[str] = []
    capacity: Capacity = Capacity()
    schedule: str | None = None  # a calendar of the sla section; None: the team's, else always on shift
    time_off: list[Leave] = []
    team: str | None = None  # the agent's default team (adds them to its members)
    weight: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False)  # method weighted: share of the requests

    @field_validator("capacity", mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        return {"max": value} if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [f"{k}: {v}" for k, v in value.items() if not 1 <= v <= 5]
        if bad:
            msg = f"skill levels run from 1 (basic) to 5 (expert); got {', '.join(bad)}"
            raise ValueError(msg)
        return value


class TeamSpec(Strict):
    members: list[str] = []
    lead: str | None = None
    schedule: str | None = None  # the calendar of members who name none


class CoExecutorSpec(Strict):
    """Co-executors a rule adds besides the assignee: `count` agents with `skill` at
    `min_level` or above (see ``routing.coexecutors``)."""

    skill: str
    min_level: int = Field(default=1, ge=1, le=5)
    count: int = Field(default=1, ge=1, le=10)


class RuleSpec(Strict):
    name: str = Field(min_length=1)
    match: RoutingMatch = RoutingMatch()
    team: str | None = None  # None: every configured agent
    method: Method = "round_robin"
    skills: dict[str, int] = {}  # required skill -> minimum level
    languages: list[str] = []  # the agent speaks at least one of these
    prefer_last_agent: bool = False  # the agent who last served this customer, when eligible
    co_executors: list[CoExecutorSpec] = []  # specialists added besides the assignee (1C: Соисполнители)
    reroute_on_warn: bool = False  # an SLA warning moves a still unanswered request to an agent with more free time


class Reroute(Strict):
    """When a request the bridge assigned moves to someone else (``routing.reroute``).

    An assignee deactivated or deleted in the CRM is always replaced; one who goes
    offline or on leave only when ``on_leave_or_offline``; a request nobody touched for
    ``inactive_hours`` business hours (on ``calendar``; none: wall-clock hours) too. A
    person's choice made in the CRM is never undone unless ``manual_assignments``.
    """

    on_leave_or_offline: bool = True
    inactive_hours: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    calendar: str | None = None
    manual_assignments: bool = False


class OnLowCsat(Strict):
    """What routing does with a low rating (the csat addon's ``csat.low``): the request goes
    to `assign_to` for a follow-up — ``lead``: the team lead of `team`, else of the request's
    team; or an agent's key under ``routing.agents`` (a supervisor's queue user) — written
    back to the CRM as any assignment (``routing.followup``)."""

    assign_to: str = Field(default="lead", min_length=1)
    team: str | None = None


class RoutingConfig(Strict):
    """See the module docstring. ``load_statuses``: the request statuses that count as an
    agent's load (default: every open status)."""

    agent_defaults: AgentSpec | None = None
    exclude: list[str] = []  # CRM users never routed to by agent_defaults (service accounts)
    agents: dict[str, AgentSpec] = {}
    teams: dict[str, TeamSpec] = {}
    rules: list[RuleSpec] = [RuleSpec(name="everything", method="round_robin")]
    load_statuses: list[TicketStatus] = Field(default_factory=lambda: list(_OPEN))
    customer_language: CustomerLanguage | None = None  # where a request's language comes from
    time_off_files: list[str] = []  # CSV or .ics, relative to the configuration file (routing.timeoff)
    reroute: Reroute = Reroute()
    on_low_csat: OnLowCsat | None = None  # None: a low rating moves nothing (notify still alerts)

    @field_validator("time_off_files")
    @classmethod
    def _anchored(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Relative to the configuration file's folder, not to the shell's."""
        base = (info.context or {}).get("base_dir")
        return [str(Path(base) / v) if base is not None and not Path(v).is_absolute() else v for v in value]

    @property
    def enabled(self) -> bool:
        """Whether routing assigns anything: some agent is configured."""
        return bool(self.agents) or self.agent_defaults is not None

    def members(self, team: str) -> list[str]:
        """A team's members in a stable order: those listed, then agents naming it as theirs."""
        spec = self.teams[team]
        listed = list(dict.fromkeys(spec.members))
        return listed + [key for key, agent in self.agents.items() if agent.team == team and key not in listed]

    def schedule_of(self, key: str | None) -> str | None:
        """The calendar an agent works: their own, else their team's (the first team that
        lists them), else the defaults'; None: always on shift."""
        agent = self.agents.get(key) if key is not None else None
        spec = agent or self.agent_defaults
        if spec is not None and spec.schedule:
            return spec.schedule
        for name, team in self.teams.items():
            if team.schedule and key is not None and ((agent and agent.team == name) or key in team.members):
                return team.schedule
        return None

    @model_validator(mode="after")
    def _names(self) -> RoutingConfig:
        teams, agents = list(self.teams), list(self.agents)
        for key, agent in self.agents.items():
            if agent.team is not None and agent.team not in self.teams:
                raise config_problem(("agents", key, "team"), _unknown("team", agent.team, teams))
        for name, team in self.teams.items():
            for index, member in enumerate(team.members):
                if member not in self.agents:
                    raise config_problem(("teams", name, "members", index), _unknown("agent", member, agents, where="routing.agents"))
            if team.lead is not None and team.lead not in self.agents:
                raise config_problem(("teams", name, "lead"), _unknown("agent", team.lead, agents, where="routing.agents"))
        skills = sorted({s for a in self._specs() for s in a.skills})
        languages = sorted({lang for a in self._specs() for lang in a.languages})
        for index, rule in enumerate(self.rules):
            if rule.team is not None and rule.team not in self.teams:
                raise config_problem(("rules", index, "team"), _unknown("team", rule.team, teams))
            for skill in rule.skills:
                if skill not in skills:
                    raise config_problem(("rules", index, "skills", skill), _unknown("skill", skill, skills, holder="no agent has"))
            for j, extra in enumerate(rule.co_executors):
                if extra.skill not in skills:
                    raise config_problem(("rules", index, "co_executors", j, "skill"),
                                         _unknown("skill", extra.skill, skills, holder="no agent has"))
            for lang in rule.languages:
                if lang not in languages:
                    raise config_problem(("rules", index, "languages"), _unknown("language", lang, languages, holder="no agent speaks"))
        if self.on_low_csat is not None:
            low = self.on_low_csat
            if low.team is not None and low.team not in self.teams:
                raise config_problem(("on_low_csat", "team"), _unknown("team", low.team, teams))
            if low.assign_to != "lead" and low.assign_to not in self.agents:
                raise config_problem(("on_low_csat", "assign_to"),
                                     _unknown("agent", low.assign_to, agents, where="routing.agents") + " (or write lead)")
        names = [r.name for r in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            msg = f"rule names must be unique (the assignment log records them): {', '.join(twice)} appear twice"
            raise ValueError(msg)
        return self

    def _specs(self) -> list[AgentSpec]:
        return [*self.agents.values(), *([self.agent_defaults] if self.agent_defaults else [])]

    def check_across(self, config: Any) -> None:
        """The schedules name calendars of the ``sla`` section (called by the core once
        every section is valid)."""
        calendars = list(config.section("sla").calendars)
        named: list[tuple[tuple[str | int, ...], str | None]] = [
            (("routing", "agents", key, "schedule"), a.schedule) for key, a in self.agents.items()]
        named += [(("routing", "teams", key, "schedule"), t.schedule) for key, t in self.teams.items()]
        named.append((("routing", "reroute", "calendar"), self.reroute.calendar))
        if self.agent_defaults is not None:
            named.append((("routing", "agent_defaults", "schedule"), self.agent_defaults.schedule))
        for loc, name in named:
            if name is not None and name not in calendars:
                raise config_problem(loc, _unknown("calendar", name, calendars, where="sla.calendars"))
        self._check_time_off(ZoneInfo(config.timezone))
        if not self.enabled:
            return
        for i, policy in enumerate(config.section("sla").policies):
            for j, step in enumerate(policy.escalations):
                if step.action == "reassign" and step.team not in self.teams:
                    raise config_problem(("sla", "policies", i, "escalations", j, "team"),
                                         _unknown("team", str(step.team), list(self.teams)) + " (the team reassigned to)")

    def _check_time_off(self, zone: ZoneInfo) -> None:
        """Each time-off file reads, and (without ``agent_defaults``, when the agents are
        exactly those listed) names only configured agents. An e-mail is let through: which
        CRM user has it is known only to the store, so the tick matches it."""
        known = list(self.agents)
        for index, path in enumerate(self.time_off_files):
            try:
                leaves = read_time_off(Path(path), zone)
            except TimeOffFileError as exc:
                raise config_problem(("routing", "time_off_files", index), str(exc)) from None
            if self.agent_defaults is not None:
                continue
            lowered = {k.lower() for k in known}
            for leave in leaves:
                if leave.agent.lower() not in lowered and "@" not in leave.agent:
                    raise config_problem(("routing", "time_off_files", index), f"{path}:{leave.line}: "
                                         + _unknown("agent", leave.agent, known, where="routing.agents"))


def _unknown(what: str, name: str, known: list[str], *, where: str = "", holder: str = "") -> str:
    hint = did_you_mean(name, known)
    if holder:
        return f"{holder} {what} {name!r}.{hint} Known: {', '.join(known) or 'none'}"
    place = f" under {where}" if where else f" under routing.{what}s"
    return f"no {what} {name!r} is defined{place}.{hint} Defined: {', '.join(known) or 'none'}"
