"""Importers of calendar files into ``CalendarLayer`` objects: xmlcalendar XML and iCal.

**xmlcalendar** (https://github.com/xmlcalendar/data, ``ru/<year>/calendar.xml``, also
regional calendars in the same format)::

    <calendar year="2026" lang="ru" date="..." country="ru">
      <holidays>...</holidays>
      <days><day d="01.01" t="1" h="1"/> <day d="11.03" t="2"/> <day d="11.01" t="3"/>
            <day d="11.03" t="1" f="11.01"/></days>
    </calendar>

``d`` is ``MM.DD`` of the file's year. ``t="1"``: a day off (closed). ``t="2"``: a
shortened working day (the last hour of working time is cut); on a Saturday or Sunday it
is also a working day (a transferred working Saturday that is pre-holiday). ``t="3"``: a
working day (a transferred working weekend day). ``f="MM.DD"`` on a day off names the day
it was moved from; older files mark transferred working Saturdays only that way, so a date
named by ``f`` that the file does not list itself becomes a working day. ``h`` and the
``<holidays>`` titles are ignored. The XML is parsed with expat and refused if it holds a
DOCTYPE or an entity declaration (no external entities, no entity expansion bombs).

**iCal** (RFC 5545, via the ``icalendar`` package): every ``VEVENT`` closes time.
All-day events (``DTSTART;VALUE=DATE``) close the dates from DTSTART to DTEND (exclusive;
one day when DTEND is missing). Timed events close the range DTSTART–DTEND: floating
times are the calendar's wall clock, zoned or UTC times are converted to it. Markers
(case-insensitive) on **all-day** events change the meaning:

* category ``WORKDAY`` or ``[workday]`` in the SUMMARY: a working day (a transferred
  working Saturday gets the calendar's usual workday intervals);
* category ``SHORTDAY`` or ``[shortday]`` in the SUMMARY: a shortened working day (the last
  hour cut; also a working day when it falls on a Saturday or Sunday).

Cancelled events (``STATUS:CANCELLED``) are skipped; recurring events (``RRULE``) are
refused — export the calendar with expanded instances.

``parse_*`` functions are pure; ``load_*`` read files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.parsers import expat

import icalendar

from sla.calendar import CalendarLayer
from sla.errors import CalendarDataError

__all__ = [
    "SHORTDAY_CATEGORY",
    "SHORTDAY_KEYWORD",
    "WORKDAY_CATEGORY",
    "WORKDAY_KEYWORD",
    "load_ical",
    "load_xmlcalendar",
    "parse_ical",
    "parse_xmlcalendar",
]

WORKDAY_CATEGORY = "WORKDAY"
WORKDAY_KEYWORD = "[workday]"
SHORTDAY_CATEGORY = "SHORTDAY"
SHORTDAY_KEYWORD = "[shortday]"
_SATURDAY = 5


class _UnsafeXml(Exception):
    """Raised inside expat callbacks; becomes a CalendarDataError."""


def _source_line(data: bytes | str, number: int) -> str:
    """Line ``number`` (1-based) of ``data``, stripped and cut to 80 characters."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.split("\n")
    return lines[number - 1].strip()[:80] if 0 < number <= len(lines) else ""


def _xml_elements(data: bytes | str, where: str) -> list[tuple[str, dict[str, str], int]]:
    """The (tag, attributes, line) of every element, in document order; DTDs refused."""
    parser = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise _UnsafeXml

    def refuse_external(*_: object) -> int:
        raise _UnsafeXml

    def start(tag: str, attrs: dict[str, str]) -> None:
        elements.append((tag, attrs, parser.CurrentLineNumber))

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    elements: list[tuple[str, dict[str, str], int]] = []
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)  # noqa: FBT003 - expat's positional isfinal
    except _UnsafeXml:
        raise CalendarDataError(f"{where}:{parser.CurrentLineNumber}", "<!DOCTYPE ...>",
                                "XML with a DOCTYPE or entity declarations is refused",
                                "Calendar files need neither; remove the DOCTYPE.") from None
    except expat.ExpatError as exc:
        raise CalendarDataError(f"{where}:{exc.lineno}:{exc.offset + 1}",
                                _source_line(data, exc.lineno),
                                f"not well-formed XML: {expat.ErrorString(exc.code)}",
                                "Fix the XML there; a calendar.xml file of the xmlcalendar "
                                "format is expected.") from None
    return elements


def _month_day(text: str | None, year: int, where: str) -> date:
    try:
        month, day = (int(part) for part in (text or "").split("."))
        return date(year, month, day)
    except ValueError:
        raise CalendarDataError(where, text, "not a date of the file's year",
                                "Write d=\"MM.DD\", e.g. d=\"01.07\".") from None


def parse_xmlcalendar(data: bytes | str, *, name: str = "xmlcalendar",
                      where: str = "<data>") -> CalendarLayer:
    """Parse one xmlcalendar ``calendar.xml`` (one year) into a layer (see module doc).

    The layer's ``years`` is the file's year and its ``series`` the root's ``country`` (a
    national ``ru`` file continues ``ru-production``). Errors name the place: ``file:line:column``
    for XML syntax (expat's), ``file:line: <day d='..'>`` for a bad element.

    Raises:
        CalendarDataError: unsafe or malformed XML, a missing/invalid ``year``, a bad
            ``d``/``t``/``f``, or one date given two different types.
    """
    elements = _xml_elements(data, where)
    if not elements or elements[0][0] != "calendar":
        raise CalendarDataError(f"{where}:{elements[0][2] if elements else 1}",
                                elements[0][0] if elements else None,
                                "root element is not <calendar>",
                                "Give a calendar.xml file of the xmlcalendar format.")
    year_text = elements[0][1].get("year", "")
    if not (year_text.isdigit() and 1900 <= int(year_text) <= 2200):
        raise CalendarDataError(f"{where}:{elements[0][2]}: <calendar year>", year_text,
                                "missing or invalid year", "The root needs year=\"YYYY\".")
    year = int(year_text)
    types: dict[date, str] = {}
    moved_from: set[date] = set()
    for tag, attrs, line in elements[1:]:
        if tag != "day":
            continue
        spot = f"{where}:{line}: <day d={attrs.get('d')!r}>"
        day = _month_day(attrs.get("d"), year, spot)
        kind = attrs.get("t", "")
        if kind not in ("1", "2", "3"):
            raise CalendarDataError(spot, kind, "unknown day type t",
                                    "t=\"1\" day off, t=\"2\" shortened, t=\"3\" working day.")
        if types.get(day, kind) != kind:
            raise CalendarDataError(spot, kind, f"date already listed with t={types[day]!r}",
                                    "List each date once.")
        types[day] = kind
        if attrs.get("f"):
            moved_from.add(_month_day(attrs["f"], year, f"{spot} f"))
    closed = {d for d, t in types.items() if t == "1"}
    shortened = {d for d, t in types.items() if t == "2"}
    working = {d for d, t in types.items() if t == "3"}
    working |= {d for d in shortened if d.weekday() >= _SATURDAY}
    working |= moved_from - types.keys()
    # A national file (country="ru") continues the shipped ru-production (series "ru"); a
    # regional one has a series of its own, flagged when its years run out.
    series = elements[0][1].get("country", "").strip().lower()
    return CalendarLayer(name=name, closed=frozenset(closed), working=frozenset(working),
                         shortened=frozenset(shortened), source=where, years=(year,), series=series)


def load_xmlcalendar(*paths: str | Path, name: str | None = None) -> CalendarLayer:
    """Read one or more xmlcalendar files (e.g. several years of one region) into one layer.

    Raises:
        CalendarDataError: a file cannot be read or is invalid (``.path`` names it).
    """
    layers = []
    for path in paths:
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CalendarDataError(str(file), None, f"cannot read the file ({exc.strerror or exc})",
                                "Check the path and that crm-bridge may read the file.") from exc
        layers.append(parse_xmlcalendar(data, name=name or file.stem, where=str(file)))
    if len(layers) == 1:
        return layers[0]
    return CalendarLayer.merge(layers, name=name or "xmlcalendar")


def _categories(event: Any) -> set[str]:
    out: set[str] = set()
    raw = event.get("CATEGORIES")
    for item in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        for category in getattr(item, "cats", [item]):
            out.add(str(category).strip().upper())
    return out


def _marker(event: Any, category: str, keyword: str) -> bool:
    return category.upper() in _categories(event) or keyword.lower() in str(
        event.get("SUMMARY", "")).lower()


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


class _Lines:
    """Where things are in an iCalendar text, for messages: the line of each VEVENT's BEGIN
    and of its properties, and the first structural problem (icalendar gives no lines)."""

    def __init__(self, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self.events: list[dict[str, int]] = []
        self.problem: tuple[int, str] | None = None
        stack: list[tuple[str, int]] = []
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.rstrip("\r")
            if not line.strip() or line[0] in " \t":  # blank, or a folded continuation
                continue
            name, colon, value = line.partition(":")
            name, value = name.partition(";")[0].strip().upper(), value.strip().upper()
            if not colon:
                self._note(number, f"not a content line NAME:VALUE ({line.strip()[:60]!r})")
            elif name == "BEGIN":
                stack.append((value, number))
                if value == "VEVENT":
                    self.events.append({"BEGIN": number})
            elif name == "END":
                if not stack:
                    self._note(number, f"END:{value} without a matching BEGIN:{value}")
                elif stack[-1][0] != value:
                    self._note(number, f"END:{value} while BEGIN:{stack[-1][0]} of line "
                                       f"{stack[-1][1]} is still open")
                else:
                    stack.pop()
            elif stack and stack[-1][0] == "VEVENT":
                self.events[-1].setdefault(name, number)
        if stack:
            self._note(stack[-1][1], f"BEGIN:{stack[-1][0]} is never closed by END:{stack[-1][0]}")

    def _note(self, number: int, problem: str) -> None:
        if self.problem is None:
            self.problem = (number, problem)

    def spot(self, where: str, index: int, event: Any, prop: str = "BEGIN") -> str:
        """``file:line: VEVENT 'uid' 'summary'`` (the line of ``prop`` when known)."""
        label = f"VEVENT {str(event.get('UID', '')).strip()!r} {str(event.get('SUMMARY', '')).strip()!r}"
        lines = self.events[index] if index < len(self.events) else {}
        line = lines.get(prop, lines.get("BEGIN"))
        return f"{where}:{line}: {label}" if line else f"{where}: {label} (event {index + 1})"


def _event_span(event: Any, spot: Callable[[str], str]) -> tuple[date, date]:
    """DTSTART and the end (DTEND, or DTSTART + DURATION, or one day / zero) of an event."""
    if event.get("DTSTART") is None:
        raise CalendarDataError(spot("BEGIN"), None, "event without DTSTART",
                                "Give every event a DTSTART.")
    start = event.decoded("DTSTART")
    if not isinstance(start, date):  # icalendar keeps an unreadable value as text
        raise CalendarDataError(spot("DTSTART"), str(start), "DTSTART is not a date or date-time",
                                "Write DTSTART;VALUE=DATE:20260101 or DTSTART:20260101T090000.")
    if event.get("DTEND") is not None:
        end = event.decoded("DTEND")
        if not isinstance(end, date):
            raise CalendarDataError(spot("DTEND"), str(end), "DTEND is not a date or date-time",
                                    "Write it in the form of DTSTART.")
    elif event.get("DURATION") is not None:
        length = event.decoded("DURATION")
        if not isinstance(length, timedelta):
            raise CalendarDataError(spot("DURATION"), str(length), "DURATION is not a duration",
                                    "Write e.g. DURATION:PT4H or DURATION:P1D.")
        end = start + length
    else:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    return start, end


def parse_ical(data: bytes | str, *, name: str = "ical", where: str = "<data>",
               workday_category: str = WORKDAY_CATEGORY, workday_keyword: str = WORKDAY_KEYWORD,
               shortday_category: str = SHORTDAY_CATEGORY,
               shortday_keyword: str = SHORTDAY_KEYWORD) -> CalendarLayer:
    """Parse an iCalendar file into a layer (see the module docstring for the rules).

    The layer's ``years`` are the years its (not cancelled) events touch. Errors name the
    place as ``file:line: VEVENT 'uid' 'summary'``.

    Raises:
        CalendarDataError: not iCalendar, an event without DTSTART or with an unreadable
            date, a recurring event, a timed event marked as a working or shortened day,
            or an end before its start.
    """
    lines = _Lines(data)
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        line, problem = lines.problem or (0, str(exc).split(": ", 1)[0])
        raise CalendarDataError(f"{where}:{line}" if line else where, None,
                                f"not an iCalendar file: {problem}",
                                "Export the calendar as .ics (BEGIN:VCALENDAR ... END:VCALENDAR).",
                                ) from None
    closed: set[date] = set()
    working: set[date] = set()
    shortened: set[date] = set()
    ranges: list[tuple[datetime, datetime]] = []
    years: set[int] = set()
    for i, event in enumerate(calendar.walk("VEVENT")):
        def spot(prop: str, i: int = i, event: Any = event) -> str:
            return lines.spot(where, i, event, prop)

        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if "RRULE" in event:
            raise CalendarDataError(spot("RRULE"), str(event.get("RRULE").to_ical(), "ascii"),
                                    "recurring events are not expanded",
                                    "Export the calendar with one event per occurrence.")
        start, end = _event_span(event, spot)
        is_work = _marker(event, workday_category, workday_keyword)
        is_short = _marker(event, shortday_category, shortday_keyword)
        if not isinstance(start, datetime):
            days = list(_days(start, end if not isinstance(end, datetime) else end.date()))
            if not days:
                raise CalendarDataError(spot("DTEND"), f"{start}/{end}",
                                        "the event ends before it starts")
            years.update(range(days[0].year, days[-1].year + 1))
            if is_short:
                shortened.update(days)
                working.update(d for d in days if d.weekday() >= _SATURDAY)
            elif is_work:
                working.update(days)
            else:
                closed.update(days)
            continue
        if is_work or is_short:
            raise CalendarDataError(spot("DTSTART"), start, "a timed event cannot mark a working "
                                    "or shortened day", "Make it an all-day event, or state "
                                    "the day's hours as a calendar override.")
        if not isinstance(end, datetime) or (end.tzinfo is None) != (start.tzinfo is None):
            raise CalendarDataError(spot("DTEND"), f"{start}/{end}", "DTSTART and DTEND differ "
                                    "in form", "Give both as date-times in the same form.")
        if end < start:
            raise CalendarDataError(spot("DTEND"), f"{start}/{end}",
                                    "the event ends before it starts")
        if end > start:
            ranges.append((start, end))
            years.update(range(start.year, (end - timedelta(microseconds=1)).year + 1))
    return CalendarLayer(name=name, closed=frozenset(closed), working=frozenset(working),
                         shortened=frozenset(shortened), closed_ranges=tuple(ranges),
                         source=where, years=tuple(sorted(years)))


def load_ical(path: str | Path, *, name: str | None = None, **markers: str) -> CalendarLayer:
    """Read an ``.ics`` file into a layer; ``markers`` are ``parse_ical``'s keywords.

    Raises:
        CalendarDataError: the file cannot be read or is invalid (``.path`` names it).
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CalendarDataError(str(file), None, f"cannot read the file ({exc.strerror or exc})",
                                "Check the path and that crm-bridge may read the file.") from exc
    return parse_ical(data, name=name or file.stem, where=str(file), **markers)
