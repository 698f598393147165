"""The SLA part of ``crm-bridge status``: the clocks of open requests by state (running,
warning, breached, paused), requests waiting to be planned, and how long each calendar's
data lasts. Data that ran out is a problem (due dates after it stand on the weekly pattern
and are flagged); breaches are the support team's work, shown but not the bridge's fault.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from crm_bridge.status import Problem, Section
from sla.coverage import WARN_DAYS, coverage_lines
from sla.tables import SlaClockRow, SlaQueueRow

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["RUNNING", "sla_status"]

#: Clock states of a request whose resolution clock still runs (or is paused).
RUNNING = ("on_track", "warning", "breached", "paused")


def sla_status(app: App, now: datetime) -> Section:
    """The ``status.section`` of sla."""
    from zoneinfo import ZoneInfo

    with app.store.transaction() as s:
        states = dict(s.execute(select(SlaClockRow.state, func.count()).where(SlaClockRow.state.in_(RUNNING))
                                .group_by(SlaClockRow.state)).all())
        queued = int(s.scalar(select(func.count()).select_from(SlaQueueRow)) or 0)
    clocks = {state: int(states.get(state, 0)) for state in RUNNING}
    today = now.astimezone(ZoneInfo(app.config.timezone)).date()
    calendars: list[dict[str, Any]] = [{"calendar": c.calendar, "data": c.coverage.name, "ends": c.coverage.last, "days_left": c.days_left}
                 for c in coverage_lines(app.config.section("sla"), today)]
    section = Section("sla", "SLA", data={"clocks": clocks, "queued": queued, "calendars": calendars}, order=20)
    section.lines.append(("clocks", f"{clocks['on_track']:,} on track, {clocks['warning']:,} warning, "
                                    f"{clocks['breached']:,} breached, {clocks['paused']:,} paused"))
    if queued:
        section.lines.append(("to plan", f"{queued:,} request(s) queued for planning"))
    for c in calendars:
        mark = "" if c["days_left"] >= WARN_DAYS else " (!)"
        section.lines.append((f"calendar {c['calendar']}",
                              f"{c['data']} data to {c['ends']:%Y-%m-%d}: {c['days_left']:,} days left{mark}"))
        if c["days_left"] < 0:
            section.problems.append(Problem(
                f"calendar {c['calendar']}: {c['data']}'s data ran out on {c['ends']:%Y-%m-%d}; due dates after it "
                "are flagged", "crm-bridge check"))
    return section
