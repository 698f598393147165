"""Errors the SLA addon raises on purpose, typed by what the caller does next.

* ``CalendarSpecError`` — a calendar spec (the YAML ``calendars:`` section) is wrong: the
  user edits the file. ``.path`` is the field path inside the spec (``week.mon[1]``) so a
  config loader can map it to a file line; the message names the value and the fix.
* ``CalendarDataError`` — an imported calendar file (iCal, xmlcalendar XML, production
  JSON) is wrong or unsafe; ``.path`` names the file, the line and the element.
* ``CalendarFileError`` — a spec's ``include`` entry names a file that is missing or
  wrong; ``.path`` is the entry's field path, ``.file`` the file.
* ``NaiveDatetimeError`` — a datetime without a time zone reached the SLA math. Also a
  ``ValueError``: it is a programming error in the caller.
* ``InvalidDurationError`` — a negative business duration. Also a ``ValueError``.
* ``CalendarHasNoWorkingTime`` — the calendar has no working time within the search
  horizon, so a due date does not exist. Also a ``ValueError``.
"""

from __future__ import annotations

from crm_bridge.errors import BridgeError, ConfigError

__all__ = [
    "CalendarDataError",
    "CalendarFileError",
    "CalendarHasNoWorkingTime",
    "CalendarSpecError",
    "InstantOutOfRangeError",
    "InvalidDurationError",
    "NaiveDatetimeError",
    "SlaError",
]


class SlaError(BridgeError):
    """Root of the errors raised by the SLA addon."""


class CalendarSpecError(SlaError, ConfigError):
    """A calendar spec is invalid.

    Attributes:
        path: the field path inside the spec, e.g. ``week.mon[1]`` or
            ``calendars.support.holidays[2]`` when the caller passed a prefix.
        value: the offending value as found in the spec.
        problem: what is wrong, one sentence.
        hint: what to write instead (may be empty).
    """

    def __init__(self, path: str, value: object, problem: str, hint: str = "") -> None:
        where = path or "calendar"
        # None means "nothing to show" (a missing key, an unreadable file), not a value.
        message = f"{where}: {problem}" + (f" (got {value!r})." if value is not None else ".")
        if hint:
            message += f" {hint}"
        super().__init__(message)
        self.path = path
        self.value = value
        self.problem = problem
        self.hint = hint


class CalendarDataError(CalendarSpecError):
    """An imported calendar file (iCal, xmlcalendar, production JSON) is invalid or unsafe.

    ``.path`` names the file (or ``<data>`` for in-memory input), the line where the parser
    knows it and the element: ``ru-2028.xml:14: <day d='02.30'>``.
    """


class CalendarFileError(CalendarSpecError):
    """A file a spec's ``include`` names (``{xmlcalendar: FILE}``, ``{ical: FILE}``) is
    missing, unreadable or invalid.

    The message is ``<spec path>: <reason>``, the reason naming the file and, where the
    parser knows it, the line (``calendars/ru-2028.xml:14: <day d='02.30'>: ...``).

    Attributes:
        path: the include entry's field path, e.g. ``sla.calendars.office.include[1]``.
        value: the include entry as written.
        file: the file's resolved path.
        problem: the reason, with the file's own place and the fix.
    """

    def __init__(self, path: str, value: object, file: str, reason: str) -> None:
        super().__init__(path, value, reason)
        # The reason already names the file, the value and the fix: no "(got ...)" here.
        self.args = (f"{path}: {reason}",)
        self.file = file


class NaiveDatetimeError(SlaError, ValueError):
    """A datetime without a time zone was given to the SLA math."""

    def __init__(self, argument: str, value: object) -> None:
        super().__init__(
            f"{argument}: {value!r} has no time zone. The SLA math needs aware datetimes; "
            "attach the zone the instant was recorded in, e.g. "
            "value.replace(tzinfo=ZoneInfo('Europe/Moscow')), or convert a 1C date with the "
            "backend's time zone."
        )
        self.argument = argument
        self.value = value


class InvalidDurationError(SlaError, ValueError):
    """A business duration was negative."""

    def __init__(self, duration: object) -> None:
        super().__init__(
            f"duration: {duration!r} is negative; business durations are >= 0. To find how "
            "much business time separates two instants use business_between()."
        )
        self.duration = duration


class CalendarHasNoWorkingTime(SlaError, ValueError):
    """The calendar has no working time within the search horizon.

    Attributes:
        calendar: the calendar's name.
        years: the UTC years searched, ``(first, last)``.
    """

    def __init__(self, calendar: str, first_year: int, last_year: int) -> None:
        super().__init__(
            f"calendar {calendar!r} has no working time from {first_year} to {last_year}, "
            "so no due date exists. Check its 'week' (all days empty?), its holidays and, "
            "for a composed calendar, that the intersected calendars overlap at all."
        )
        self.calendar = calendar
        self.years = (first_year, last_year)


class InstantOutOfRangeError(SlaError, ValueError):
    """An instant or a due date falls outside the years the SLA math supports (2..9998)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} lies outside the supported years 2..9998; check the start instant and "
            "the duration (a duration of centuries is almost always a unit mistake)."
        )
