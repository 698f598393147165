"""The JSON answers, as pydantic models: they are what ``/openapi.json`` publishes."""

from __future__ import annotations

from datetime import datetime
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


class DueRequest(BaseModel):
    number: str
    subject: str
    status: str
    team: str | None
    assignee: str | None
    due: datetime | None
    left: dict[str, Any] | None


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


class DashboardOut(BaseModel):
    now: datetime
    open_by_team: list[TeamCounts]
    at_risk: list[DueRequest]
    breached: list[DueRequest]
    routing_queue: list[QueuedTeam]
    parked_mails: int
    problems: list[ProblemOut]
