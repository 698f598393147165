"""The JSON answers, as pydantic models: they are what ``/openapi.json`` publishes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

__all__ = ["DashboardOut", "Health"]


class Health(BaseModel):
    ok: bool
    store: str  # "reachable" or why not (the driver's first line, no password)


class TeamCounts(BaseModel):
    team: str | None
    counts: dict[str, int]
    total: int
    breached: int  # of the total, breached now


class DueRequest(BaseModel):
    number: str
    subject: str
    status: str
    team: str | None
    assignee: str | None
    due: datetime | None
    left: dict[str, Any] | None


class BreachedRequest(DueRequest):
    """A breached request: now (no period: `metric` and what follows are None) or during the
    view's period (one per clock cycle missed; `due` is the instant the target was due)."""

    metric: str | None  # first_response | resolution
    cycle: int | None
    ended: str | None  # fulfil (met late) | stop (cancelled) | None (the clock still runs)
    ended_at: datetime | None
    late: float | None  # business seconds past the target when the cycle ended


class QueuedTeam(BaseModel):
    team: str | None
    queued: int
    oldest: str
    since: datetime | None
    reason: str | None


class ProblemOut(BaseModel):
    section: str
    reason: str
    command: str


class BreachedGroup(BaseModel):
    team: str | None
    assignee: str | None
    count: int  # breaches
    requests: int  # distinct requests (fewer when one missed both targets, or two cycles)
    numbers: list[str]


class ConflictOut(BaseModel):
    id: int
    backend: str
    model: str
    field: str
    base: Any
    local: Any
    remote: Any
    number: str | None
    record: str
    created: datetime


class ParkedJob(BaseModel):
    id: int
    backend: str
    model: str
    number: str | None
    record: str
    fields: dict[str, Any]  # the values to write, by canonical field
    attempts: int
    last_error: str | None
    created: datetime


class VolumeDay(BaseModel):
    day: date
    counts: dict[str, int]


class SlaTarget(BaseModel):
    metric: str
    met: int
    ended: int
    share: float | None


class AgeBucket(BaseModel):
    under_hours: int | None  # None: the oldest bucket
    count: int


class CsatWeek(BaseModel):
    week: date
    surveys: int
    answered: int
    score: float | None


class AgentLoad(BaseModel):
    agent: str
    open: int
    capacity: int | None


class Charts(BaseModel):
    volume: list[VolumeDay]
    sla: list[SlaTarget]
    backlog: list[AgeBucket]
    csat: list[CsatWeek] | None  # None: no CSAT source (the csat addon is not installed)
    load: list[AgentLoad]


class ViewOut(BaseModel):
    """The period and filters the answer is for (``web.view``); None: the default / any."""

    period: str | None
    start: datetime | None
    end: datetime | None
    team: str | None
    agent: str | None
    channel: str | None


class DashboardOut(BaseModel):
    now: datetime
    view: ViewOut
    open_by_team: list[TeamCounts]
    at_risk: list[DueRequest]
    breached_in: str | None  # the period the breached list covers; None: breached now
    breached: list[BreachedRequest]
    breached_total: int  # the list shows at most 20
    breached_by: list[BreachedGroup]
    charts: Charts
    conflicts: list[ConflictOut]
    parked_jobs: list[ParkedJob]
    routing_queue: list[QueuedTeam]
    parked_mails: int
    problems: list[ProblemOut]
