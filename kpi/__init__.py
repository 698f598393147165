"""KPI addon: support KPIs computed in SQL on the store, for the terminal and the web.

``kpi.queries.kpi_report`` answers "how fast, how often within SLA, how loaded, how much"
for a period, grouped and filtered by team, agent, type, channel, source or customer;
``kpi.queries.sla_report`` gives account managers each customer's SLA compliance per
contract and policy. ``crm-bridge kpi report`` / ``kpi sla-report`` print them and export
JSON, CSV and XLSX.

Example::

    with bridge.store.transaction() as session:
        report = kpi_report(session, parse_period("2026-11", zone, now), now, config.section("kpi"), by=("team",))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, lazy_exports

if TYPE_CHECKING:
    from crm_bridge.registry import Registry
    from kpi.errors import BadPeriod, KpiError, UnknownDimension
    from kpi.figures import Compliance, CsatSource, Filters, KpiReport, KpiRow, Times
    from kpi.period import Period, parse_period
    from kpi.queries import DIMENSIONS, kpi_report, sla_report
    from kpi.settings import KpiConfig

__all__ = ["DIMENSIONS", "BadPeriod", "Compliance", "CsatSource", "Filters", "KpiConfig", "KpiError", "KpiReport",
           "KpiRow", "Period", "Times", "UnknownDimension", "kpi_report", "parse_period", "register", "sla_report"]
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(["BadPeriod", "KpiError", "UnknownDimension"], "kpi.errors"),
    **dict.fromkeys(["Period", "parse_period"], "kpi.period"),
    **dict.fromkeys(["Compliance", "CsatSource", "Filters", "KpiReport", "KpiRow", "Times"], "kpi.figures"),
    **dict.fromkeys(["DIMENSIONS", "kpi_report", "sla_report"], "kpi.queries"),
    "KpiConfig": "kpi.settings",
})


def register(registry: Registry) -> None:
    """Register the ``kpi`` config section, the ``kpi`` commands and the lines ``crm-bridge
    demo`` ends with (usage ``demo.summary``), by name (``Lazy``):
    loading the addon imports neither SQLAlchemy nor openpyxl.

    A CSAT source reaches the reports as a component of usage ``kpi.csat`` (see
    ``kpi.queries.CsatSource``); the csat addon registers it.
    """
    registry.add(Lazy("kpi.settings:KpiConfig"), usage="config.section", name="kpi")
    registry.add(Lazy("kpi.cli:kpi_app", summary="Support KPIs for a period: times, SLA, backlog, repeats, cost."),
                 usage="cli.group", name="kpi")
    registry.add(Lazy("kpi.summary:kpi_summary"), usage="demo.summary", name="kpi")
