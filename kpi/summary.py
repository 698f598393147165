"""The KPIs of the last 30 days in a few lines, for the end of ``crm-bridge demo`` (and any
command that wants them): a component of usage ``demo.summary``, called with the app."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from kpi.export import duration, shown
from kpi.figures import METRICS
from kpi.period import parse_period
from kpi.queries import kpi_report

__all__ = ["kpi_summary"]


def kpi_summary(bridge: Any) -> list[str]:
    """Lines saying how fast, how often within SLA, how loaded and at what cost the last 30
    days were, and the command that shows the rest. Reads the store; changes nothing."""
    now = bridge.clock()
    period = parse_period("last-30d", ZoneInfo(bridge.config.timezone), now)
    with bridge.store.transaction() as session:
        total = kpi_report(session, period, now, bridge.config.section("kpi")).total
    fr, res = total.first_response, total.resolution
    sla = ", ".join(f"{m.replace('_', ' ')} {shown(total.sla[m].share, 'pct')}" for m in METRICS if m in total.sla) or "—"
    return [
        f"KPIs, last 30 days: {total.created} requests opened, {total.resolved} resolved, {total.backlog} open "
        f"(median age {duration(total.backlog_age_median)})",
        f"  first response median {duration(fr.business_median)} business / {duration(fr.calendar_median)} calendar; "
        f"resolution median {duration(res.business_median)} / {duration(res.calendar_median)}",
        f"  SLA met: {sla}; reopened {shown(total.reopen_rate, 'pct')}; repeat contacts {shown(total.repeat_rate, 'pct')}; "
        f"cost per request {shown(total.cost_per_request, 'money')}",
        "  the rest: crm-bridge kpi report --period last-30d --by team",
    ]
