"""What a KPI report holds: plain dataclasses the terminal, the exports and the web
dashboard read (``kpi.queries`` fills them). Durations are seconds, shares fractions;
None where a figure does not exist (no request resolved: no median)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.sql import FromClause

    from kpi.period import Period

__all__ = ["METRICS", "TOTAL", "Compliance", "CsatSource", "Filters", "KpiReport", "KpiRow", "Times"]

TOTAL = "Total"
#: the SLA clocks a report shows compliance and times of
METRICS = ("first_response", "resolution")


class CsatSource(Protocol):
    """Where CSAT figures come from: a selectable of one row per survey sent, with columns
    ``ticket_id`` and ``rating`` (1-5, NULL while unanswered). The csat addon registers it::

        registry.add(Lazy("csat.kpi:surveys"), usage="kpi.csat")
        def surveys() -> FromClause:
            return select(SurveyRow.ticket_id, SurveyRow.rating).subquery()
    """

    def __call__(self) -> FromClause: ...


@dataclass(frozen=True)
class Filters:
    """Keep only requests of this team, agent (assignee), type, channel, source, customer
    (names as in the store; None: any)."""

    team: str | None = None
    agent: str | None = None
    type: str | None = None
    channel: str | None = None
    source: str | None = None
    customer: str | None = None

    def given(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Times:
    """Durations in seconds: how many, median and 90th percentile, business and calendar."""

    n: int = 0
    business_median: float | None = None
    business_p90: float | None = None
    calendar_median: float | None = None
    calendar_p90: float | None = None


@dataclass(frozen=True)
class Compliance:
    ended: int = 0
    met: int = 0

    @property
    def share(self) -> float | None:
        return self.met / self.ended if self.ended else None


def _ratio(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


@dataclass
class KpiRow:
    """One group's figures (``key``: the group's values, ``("Total",)`` for the total)."""

    key: tuple[str, ...]
    created: int = 0
    resolved: int = 0
    first_response: Times = Times()
    resolution: Times = Times()
    sla: dict[str, Compliance] = field(default_factory=dict)
    backlog: int = 0
    backlog_age_median: float | None = None
    backlog_age_p90: float | None = None
    reopened: int = 0
    reopens: int = 0
    repeat_base: int = 0  # contacts: requests opened with a customer + intake's repeat messages
    repeats: int = 0  # of those, repeat contacts (repeat_messages of them intake's messages)
    repeat_messages: int = 0
    csat_surveys: int | None = None
    csat_answered: int | None = None
    csat_score: float | None = None
    worked_hours: float = 0.0
    cost_total: float | None = None
    breached_open: int = 0

    @property
    def reopen_rate(self) -> float | None:
        return _ratio(self.reopened, self.resolved)

    @property
    def repeat_rate(self) -> float | None:
        return _ratio(self.repeats, self.repeat_base)

    @property
    def csat_response_rate(self) -> float | None:
        return _ratio(self.csat_answered, self.csat_surveys)

    @property
    def cost_per_request(self) -> float | None:
        return _ratio(self.cost_total, self.resolved)


@dataclass(frozen=True)
class KpiReport:
    period: Period
    by: tuple[str, ...]
    filters: Filters
    rows: list[KpiRow]
    total: KpiRow
    volume: dict[str, dict[str, int]]  # "channel" / "source" -> value -> requests opened
    load: list[KpiRow]  # per agent: backlog, resolved, business hours worked
    currency: str | None
    repeat_within_days: int
    csat: bool  # a CSAT source is registered
