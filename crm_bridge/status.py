"""``crm-bridge status`` as a collection of sections the addons contribute.

Each addon that keeps state an operator watches registers one section::

    def sync_status(app: App, now: datetime) -> Section:
        return Section("sync", "Sync", data={...}, lines=[("demo-1c import", "ok 2m ago")],
                       problems=[Problem("demo-1c: 3 outbox rows parked",
                                         "crm-bridge jobs list --state parked")])

    registry.add(sync_status, usage="status.section", name="sync")

A section returns data (for ``--json``), lines (label, text) for people, and
**problems**: what needs a person, each with the command that acts on it. ``status``
exits 1 when any section has a problem, so a cron job or a monitoring check can page on
it; the same sections answer in embedded and in worker mode, because they read the store,
never the process that runs the jobs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from crm_bridge.errors import BridgeError

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["NEEDS_A_PERSON", "Problem", "Section", "StatusSection", "ago", "collect"]

log = logging.getLogger(__name__)

#: The exit code of ``crm-bridge status`` when something needs a person.
NEEDS_A_PERSON = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a person must look at: why, and the command that acts on it."""

    reason: str
    command: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "command": self.command}


@dataclass(slots=True)
class Section:
    """One addon's part of the status: data for scripts, lines for people, problems."""

    name: str
    title: str
    data: dict[str, Any] = field(default_factory=dict)
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    order: int = 50  # where it stands in the output: sync 10, sla 20, routing 30, notify 40


class StatusSection(Protocol):
    """A ``status.section`` component: reads the store at `now`, decides nothing.

    Example: ``registry.add(sla_status, usage="status.section", name="sla")``.
    """

    def __call__(self, app: App, now: datetime, /) -> Section: ...


def collect(app: App, now: datetime) -> list[Section]:
    """Every registered section, by its ``order`` (then the addons' load order). A section that fails with a
    ``BridgeError`` is shown as a problem of its own instead of hiding the others."""
    sections: list[Section] = []
    for comp in app.registry.all("status.section"):
        try:
            sections.append(comp.obj(app, now))
        except BridgeError as exc:
            sections.append(Section(comp.name, comp.name, problems=[Problem(
                f"{comp.name}: the status could not be read: {exc}", "crm-bridge check")]))
    return sorted(sections, key=lambda section: section.order)


def ago(now: datetime, then: datetime | None) -> str:
    """How long ago, for people: ``45s ago``, ``12m ago``, ``3h ago``, ``2d ago``."""
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172_800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86_400}d ago"
