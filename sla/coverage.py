"""How long the calendar data lasts: ``crm-bridge check`` lines and a Prometheus gauge.

A production calendar's data ends with the last year whose decree is published. Past it,
due dates still come out (the weekly pattern and the Labour Code's fixed holidays) but are
flagged; this module makes the end visible weeks before: ``check`` warns when a calendar a
policy uses has less than ``WARN_DAYS`` days of data left, and
``crm_bridge_sla_calendar_data_days_left`` lets an alert fire on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crm_bridge.app import App
from sla.calendar import Coverage
from sla.settings import SlaConfig

__all__ = ["WARN_DAYS", "CoverageLine", "SlaCollector", "coverage_findings", "coverage_lines"]

#: `check` warns when a calendar in use has fewer days of data left than this.
WARN_DAYS = 60


@dataclass(frozen=True, slots=True)
class CoverageLine:
    calendar: str
    coverage: Coverage
    days_left: int

    def advice(self) -> str:
        """One line for ``check``: the end of the data and, near it, how to add a year."""
        c = self.coverage
        ends = c.last.isoformat()
        if self.days_left >= WARN_DAYS:
            return f"calendar {self.calendar}: {c.name}'s data runs to {ends} ({self.days_left} days left)"
        when = f"ran out on {ends}" if self.days_left < 0 else f"ends {ends}, in {self.days_left} day(s)"
        nxt = c.last.year + 1
        return (f"calendar {self.calendar}: {c.name}'s data {when}; due dates after it stand on the weekly pattern "
                f"and the Labour Code's fixed holidays and are flagged. Add {nxt}: save ru/{nxt}/calendar.xml of "
                f"https://github.com/xmlcalendar/data as calendars/ru-{nxt}.xml and add "
                f"{{xmlcalendar: calendars/ru-{nxt}.xml}} to sla.calendars.{self.calendar}.include "
                "(or upgrade crm-bridge)")


def coverage_lines(settings: SlaConfig, today: date) -> list[CoverageLine]:
    """Every series of date data of every calendar a policy uses, with its days left."""
    used = dict.fromkeys(p.calendar for p in settings.policies)
    return [CoverageLine(name, c, c.days_left(today))
            for name in used for c in settings.calendar(name).coverage()]


def _today(app: App) -> date:
    return app.clock().astimezone(ZoneInfo(app.config.timezone)).date()


def coverage_findings(app: App) -> list[dict[str, Any]]:
    """``crm-bridge check`` lines: a warning for data with less than ``WARN_DAYS`` left."""
    return [{"what": "sla calendars", "ok": True, "warning": line.days_left < WARN_DAYS, "detail": line.advice()}
            for line in coverage_lines(app.config.section("sla"), _today(app))]


class SlaCollector(Collector):
    """``crm_bridge_sla_calendar_data_days_left{calendar, data}``: days of calendar data
    left after today (negative once run out)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("crm_bridge_sla_calendar_data_days_left",
                                  "Days of calendar data (production calendar, imported files) left after today.",
                                  labels=["calendar", "data"])
        for line in coverage_lines(self.app.config.section("sla"), _today(self.app)):
            gauge.add_metric([line.calendar, line.coverage.name], line.days_left)
        yield gauge
