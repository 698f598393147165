"""SLA addon: business calendars and exact business-time math for due dates.

The calendar core is pure (``sla.calendar``, ``sla.due``); importers and the shipped
Russian production calendar live at the edge (``sla.production``, ``sla.importers``).

Example::

    cal = calendar_from_spec({"timezone": "Europe/Moscow",
                             "week": {"mon": ["09:00-13:00", "14:00-18:00"], ...},
                             "include": ["ru-production"]})
    due = add_business(cal, opened_at, timedelta(hours=8))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, lazy_exports

if TYPE_CHECKING:
    from crm_bridge.registry import Registry
    from sla.calendar import Calendar, CalendarLayer, ComposedCalendar, WeeklyCalendar
    from sla.due import (
        HORIZON_YEARS,
        add_business,
        business_between,
        is_working,
        next_working_instant,
        working_periods,
    )
    from sla.errors import (
        CalendarDataError,
        CalendarFileError,
        CalendarHasNoWorkingTime,
        CalendarSpecError,
        InstantOutOfRangeError,
        InvalidDurationError,
        NaiveDatetimeError,
        SlaError,
    )
    from sla.importers import load_ical, load_xmlcalendar, parse_ical, parse_xmlcalendar
    from sla.production import load_production_json, ru_production
    from sla.spec import calendar_from_spec

__all__ = [
    "HORIZON_YEARS",
    "Calendar",
    "CalendarDataError",
    "CalendarFileError",
    "CalendarHasNoWorkingTime",
    "CalendarLayer",
    "CalendarSpecError",
    "ComposedCalendar",
    "InstantOutOfRangeError",
    "InvalidDurationError",
    "NaiveDatetimeError",
    "SlaError",
    "WeeklyCalendar",
    "add_business",
    "calendar_from_spec",
    "business_between",
    "is_working",
    "load_ical",
    "load_production_json",
    "load_xmlcalendar",
    "next_working_instant",
    "parse_ical",
    "parse_xmlcalendar",
    "register",
    "ru_production",
    "working_periods",
]
__getattr__ = lazy_exports(__name__, {
    **dict.fromkeys(["Calendar", "CalendarLayer", "ComposedCalendar", "WeeklyCalendar"], "sla.calendar"),
    **dict.fromkeys(["HORIZON_YEARS", "add_business", "business_between", "is_working", "next_working_instant",
                     "working_periods"], "sla.due"),
    **dict.fromkeys(["CalendarDataError", "CalendarFileError", "CalendarHasNoWorkingTime", "CalendarSpecError",
                     "InstantOutOfRangeError", "InvalidDurationError", "NaiveDatetimeError", "SlaError"], "sla.errors"),
    **dict.fromkeys(["load_ical", "load_xmlcalendar", "parse_ical", "parse_xmlcalendar"], "sla.importers"),
    **dict.fromkeys(["load_production_json", "ru_production"], "sla.production"),
    "calendar_from_spec": "sla.spec",
})


def register(registry: Registry) -> None:
    """Register the SLA engine: config section ``sla``, the ``ticket.imported`` handler,
    the job ``sla.tick``, the ``sla`` commands, the calendar-data gauge and check.

    Each by name (``Lazy``), imported when used: loading the addon (every command does)
    pulls in neither SQLAlchemy nor the calendar importers.
    """
    registry.add(Lazy("sla.settings:SlaConfig"), usage="config.section", name="sla")
    registry.add(Lazy("sla.queue:on_ticket_imported"), usage="event.handler", model="ticket.imported")
    registry.add(Lazy("sla.engine:sla_tick"), usage="job", name="sla.tick")
    # a queued request's write-back waits for its plan: written once, with its due dates (sync/hold.py)
    registry.add(Lazy("sla.queue:awaiting_plan", summary="waits for its SLA plan"), usage="sync.awaits",
                 model="ticket", name="sla")
    registry.add(Lazy("sla.cli:sla_app", summary="SLA policies, due dates and the ledger."), usage="cli.group", name="sla")
    registry.add(Lazy("sla.coverage:SlaCollector"), usage="metrics.collector", name="sla")
    registry.add(Lazy("sla.coverage:coverage_findings"), usage="check.app", name="sla calendars")
    registry.add(Lazy("sla.status:sla_status"), usage="status.section", name="sla")
    # what the engine decides and writes back (``mapping check`` finds a field owned local
    # that no addon decides)
    registry.add(frozenset({"first_response_due", "resolution_due", "sla_policy", "sla_state", "sla_breached"}),
                 usage="model.decided", model="ticket", name="sla")
