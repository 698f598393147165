"""Calendar specs: the plain mapping of the YAML config, turned into a ``Calendar``.

A spec::

    name: support                       # optional; default: the name argument or "calendar"
    timezone: Europe/Moscow             # required, an IANA zone
    week:                               # required; missing days are days off; or "24x7"
      mon: ["09:00-13:00", "14:00-18:00"]
      sat: []
    workday: ["09:00-13:00", "14:00-18:00"]   # optional: intervals of transferred working
                                              # days (default: the most common weekday)
    holidays:                           # closed dates, inclusive date ranges, wall ranges
      - "2026-01-01"
      - "2026-01-01/2026-01-08"
      - "2026-05-11T14:00/2026-05-11T18:00"
    overrides:                          # replace a date's intervals ([] closes it)
      "2026-11-03": ["09:00-13:00", "14:00-17:00"]
    include:                            # date layers, in order; the spec's own holidays
      - ru-production                   # and overrides are laid on top of them
      - {xmlcalendar: calendars/ru-2028.xml}              # a file: xmlcalendar XML ...
      - {ical: calendars/closures.ics, name: closures}    # ... or iCal; name: default stem
    intersect: [customer-hours]         # calendars whose working time this one is cut to

Intervals are ``HH:MM-HH:MM`` (seconds optional, hours 0-23, ``24:00`` = end of the day),
half-open, within one day. ``include`` names resolve through ``resolve`` first (a mapping
or a callable returning a ``CalendarLayer``, a ``Calendar`` or ``None``), then through the
shipped data (``ru-production``). Including a ``WeeklyCalendar`` takes its date layers
(holidays, transfers, overrides), not its week or zone. A file entry is read with
``sla.importers`` when the spec is built (the only I/O here); a relative path is taken from
``base_dir`` (the configuration file's folder), else from the current folder.

Every error is a ``CalendarSpecError`` whose ``.path`` is the field path (``week.mon[1]``,
prefixed with the caller's ``path``) and whose message names the value and the fix; a file
entry that cannot be used raises ``CalendarFileError``, naming the file and its line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from crm_bridge.errors import did_you_mean
from sla.calendar import (
    WEEKDAYS,
    Calendar,
    CalendarLayer,
    ComposedCalendar,
    Intervals,
    WeeklyCalendar,
    check_intervals,
    load_zone,
)
from sla.errors import CalendarDataError, CalendarFileError, CalendarSpecError
from sla.importers import load_ical, load_xmlcalendar
from sla.timeline import DAY_SECONDS

__all__ = ["INCLUDE_FILE_KEYS", "SPEC_KEYS", "Resolver", "calendar_from_spec", "parse_interval"]

#: What ``include``/``intersect`` names resolve through: a mapping or a callable.
Resolver = (
    Mapping[str, "Calendar | CalendarLayer"] | Callable[[str], "Calendar | CalendarLayer | None"]
)

SPEC_KEYS = ("name", "timezone", "week", "workday", "holidays", "overrides", "include",
             "intersect")
#: The keys of an ``include`` entry that names a file, and the loader of each file kind.
INCLUDE_FILE_KEYS = ("xmlcalendar", "ical", "name", "series")
_LOADERS: Mapping[str, Callable[..., CalendarLayer]] = {"xmlcalendar": load_xmlcalendar,
                                                         "ical": load_ical}
_INCLUDE_HINT = ("An include entry is a calendar name or a file: {xmlcalendar: FILE} or "
                 "{ical: FILE}, with an optional name: and series:.")

_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_FORMAT_HINT = "Write 'HH:MM-HH:MM' (seconds optional), e.g. '09:00-13:00' or '14:00-24:00'."


def _join(prefix: str, field: str) -> str:
    if not prefix:
        return field
    return prefix + field if field.startswith("[") else f"{prefix}.{field}"


def _parse_time(text: str, path: str, whole: str, *, end: bool) -> int:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise CalendarSpecError(path, whole, f"{text.strip()!r} is not a time", _FORMAT_HINT)
    hours, minutes = int(match[1]), int(match[2])
    seconds = int(match[3] or 0)
    value = hours * 3600 + minutes * 60 + seconds
    if minutes > 59 or seconds > 59 or hours > 24 or (hours == 24 and value != DAY_SECONDS):
        raise CalendarSpecError(
            path, whole, f"{text.strip()} is not a time of day",
            "Hours run 00-23 and minutes 00-59; '24:00' (as an end only) is the midnight "
            "that ends the day.",
        )
    if value == DAY_SECONDS and not end:
        raise CalendarSpecError(path, whole, "an interval cannot start at 24:00",
                                "Start the interval at 00:00 of the next day.")
    return value


def parse_interval(value: object, path: str) -> tuple[int, int]:
    """Parse ``"HH:MM-HH:MM"`` into seconds of the day ``(start, end)``.

    Raises:
        CalendarSpecError: bad format, a time out of range, an empty or inverted interval.
    """
    if not isinstance(value, str):
        raise CalendarSpecError(path, value, "expected an interval string", _FORMAT_HINT)
    parts = value.split("-")
    if len(parts) != 2:
        raise CalendarSpecError(path, value, "expected one '-' between start and end",
                                _FORMAT_HINT)
    start = _parse_time(parts[0], path, value, end=False)
    end = _parse_time(parts[1], path, value, end=True)
    if end == start:
        raise CalendarSpecError(path, value, "the interval is empty",
                                "Remove it, or give it an end after its start.")
    if end < start:
        raise CalendarSpecError(
            path, value, "the interval ends before it starts",
            "An interval lies within one day: for a night shift write '18:00-24:00' on this "
            "day and '00:00-09:00' on the next.",
        )
    return start, end


def _parse_intervals(value: object, path: str) -> Intervals:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise CalendarSpecError(path, value, "expected a list of intervals",
                                "Write e.g. [\"09:00-13:00\", \"14:00-18:00\"]; [] is a day off.")
    parsed = [parse_interval(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return check_intervals(parsed, path)


def _parse_week(value: object, path: str) -> tuple[Intervals, ...]:
    if isinstance(value, str) and value.strip().lower() == "24x7":
        return (((0, DAY_SECONDS),),) * 7
    if not isinstance(value, Mapping):
        raise CalendarSpecError(path, value, "expected a mapping of weekdays to intervals",
                                "Write e.g. {mon: [\"09:00-18:00\"], ..., sun: []} or '24x7'.")
    for key in value:
        if key not in WEEKDAYS:
            raise CalendarSpecError(
                _join(path, str(key)), key, "unknown weekday",
                f"Use {', '.join(WEEKDAYS)}.{did_you_mean(str(key).lower()[:3], WEEKDAYS)}",
            )
    # `sat:` with nothing after it loads from YAML as None: a day off, like [].
    return tuple(_parse_intervals(value.get(key) or [], _join(path, key)) for key in WEEKDAYS)


def _parse_date(value: object, path: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise CalendarSpecError(path, value, "expected a date", "Write 'YYYY-MM-DD'.")


def _parse_holiday(value: object, path: str, closed: set[date],
                   ranges: list[tuple[datetime, datetime]]) -> None:
    hint = ("A holiday is 'YYYY-MM-DD', a date range 'YYYY-MM-DD/YYYY-MM-DD' (both days "
            "closed) or a wall-clock range 'YYYY-MM-DDTHH:MM/YYYY-MM-DDTHH:MM'.")
    if not isinstance(value, str) or "/" not in value:
        closed.add(_parse_date(value, path))
        return
    first, _, second = (part.strip() for part in value.partition("/"))
    if len(first) == len(second) == len("YYYY-MM-DD"):
        start_day, end_day = _parse_date(first, path), _parse_date(second, path)
        if end_day < start_day:
            raise CalendarSpecError(path, value, "the date range ends before it starts", hint)
        while start_day <= end_day:
            closed.add(start_day)
            start_day += timedelta(days=1)
        return
    try:
        start, end = datetime.fromisoformat(first), datetime.fromisoformat(second)
    except ValueError:
        raise CalendarSpecError(path, value, "not a holiday", hint) from None
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise CalendarSpecError(path, value, "one bound has a UTC offset and the other not",
                                "Give both bounds an offset, or neither (calendar wall time).")
    if end <= start:
        raise CalendarSpecError(path, value, "the range ends before it starts", hint)
    ranges.append((start, end))


def _names(value: object, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise CalendarSpecError(path, value, "expected a list of calendar names",
                                "Write e.g. [ru-production].")
    return list(value)


def _includes(value: object, path: str) -> list[str | Mapping[str, object]]:
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str | Mapping) for v in value):
        raise CalendarSpecError(path, value, "expected a list of calendar names and files",
                                "Write e.g. [ru-production, {xmlcalendar: calendars/ru-2028.xml}].")
    return list(value)


def _include_file(entry: Mapping[str, object], path: str, base_dir: Path | None) -> CalendarLayer:
    """The layer of a ``{xmlcalendar: FILE}`` / ``{ical: FILE}`` entry, read from disk."""
    for key in entry:
        if key not in INCLUDE_FILE_KEYS:
            raise CalendarSpecError(_join(path, str(key)), key, "unknown key in an include entry",
                                    f"{_INCLUDE_HINT}{did_you_mean(str(key), INCLUDE_FILE_KEYS)}")
    kinds = [kind for kind in _LOADERS if kind in entry]
    if len(kinds) != 1:
        raise CalendarSpecError(path, dict(entry), "an include entry names exactly one file",
                                _INCLUDE_HINT)
    kind, title = kinds[0], entry.get("name")
    raw = entry[kind]
    if not isinstance(raw, str) or not raw.strip():
        raise CalendarSpecError(_join(path, kind), raw, "expected a file path",
                                "Write e.g. {xmlcalendar: calendars/ru-2028.xml}.")
    if title is not None and (not isinstance(title, str) or not title):
        raise CalendarSpecError(_join(path, "name"), title, "expected a non-empty string",
                                "The name is shown in explanations; it defaults to the file's stem.")
    file = Path(raw)
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    if not file.exists():
        anchor = "the configuration file's folder" if base_dir else "the current folder"
        raise CalendarFileError(_join(path, kind), raw, str(file),
                                f"{file}: no such file (looked for {file.resolve()}). A relative "
                                f"path is read from {anchor}; fix the path or add the file.")
    series = entry.get("series")
    if series is not None and (not isinstance(series, str) or not series):
        raise CalendarSpecError(_join(path, "series"), series, "expected a non-empty string",
                                "Layers of one series continue each other's years, e.g. series: ru.")
    try:
        layer = _LOADERS[kind](file, name=title or file.stem)
    except CalendarDataError as exc:
        raise CalendarFileError(path, dict(entry), str(file), str(exc)) from exc
    return dataclasses.replace(layer, series=series) if series else layer


def _lookup(name: str, resolve: Resolver | None, path: str) -> Calendar | CalendarLayer:
    from sla.production import BUILTIN_LAYERS, builtin_layer  # loads shipped data lazily

    found: Calendar | CalendarLayer | None = None
    known = list(BUILTIN_LAYERS)
    if isinstance(resolve, Mapping):
        found = resolve.get(name)
        known += list(resolve)
    elif resolve is not None:
        found = resolve(name)
    if found is None:
        found = builtin_layer(name)
    if found is None:
        raise CalendarSpecError(path, name, "no calendar of that name",
                                f"Known: {', '.join(sorted(known))}.{did_you_mean(name, known)}")
    return found


def calendar_from_spec(spec: Mapping[str, object], *, resolve: Resolver | None = None,
                       name: str | None = None, path: str = "",
                       base_dir: Path | None = None) -> Calendar:
    """Build a calendar from a spec (see the module docstring for the keys).

    Args:
        spec: the mapping, as loaded from YAML or JSON (``date`` objects are accepted
            where dates are expected).
        resolve: names for ``include`` and ``intersect``: a mapping or a callable.
        name: the calendar's name when the spec has no ``name``.
        path: prefix of every error path, e.g. ``calendars.support``.
        base_dir: the folder relative file paths in ``include`` are read from (the
            configuration file's); ``None``: the current folder.

    Returns:
        A ``WeeklyCalendar``, or a ``ComposedCalendar`` when ``intersect`` is given.

    Raises:
        CalendarSpecError: anything invalid, with ``.path`` naming the field.
        CalendarFileError: a file ``include`` names is missing, unreadable or invalid.
    """
    if not isinstance(spec, Mapping):
        raise CalendarSpecError(path, spec, "a calendar spec is a mapping",
                                "Give at least 'timezone' and 'week'.")
    for key in spec:
        if key not in SPEC_KEYS:
            raise CalendarSpecError(_join(path, str(key)), key, "unknown key",
                                    f"Known keys: {', '.join(SPEC_KEYS)}."
                                    f"{did_you_mean(str(key), SPEC_KEYS)}")
    for required in ("timezone", "week"):
        if required not in spec:
            raise CalendarSpecError(_join(path, required), None, "missing",
                                    "A calendar needs 'timezone' and 'week'.")
    title = spec.get("name", name or "calendar")
    if not isinstance(title, str) or not title:
        raise CalendarSpecError(_join(path, "name"), title, "expected a non-empty string")
    zone_key = spec["timezone"]
    if not isinstance(zone_key, str):
        raise CalendarSpecError(_join(path, "timezone"), zone_key, "expected a zone name",
                                "Write e.g. 'Europe/Moscow'.")
    load_zone(zone_key, _join(path, "timezone"))
    week = _parse_week(spec["week"], _join(path, "week"))
    workday = (_parse_intervals(spec["workday"], _join(path, "workday"))
               if "workday" in spec else None)

    closed: set[date] = set()
    ranges: list[tuple[datetime, datetime]] = []
    holidays = spec.get("holidays") or []
    if not isinstance(holidays, Sequence) or isinstance(holidays, str):
        raise CalendarSpecError(_join(path, "holidays"), holidays, "expected a list",
                                "Write e.g. [\"2026-01-01\", \"2026-05-11T14:00/2026-05-11T18:00\"].")
    for i, item in enumerate(holidays):
        _parse_holiday(item, _join(path, f"holidays[{i}]"), closed, ranges)

    overrides: dict[date, Intervals] = {}
    raw_overrides = spec.get("overrides") or {}
    if not isinstance(raw_overrides, Mapping):
        raise CalendarSpecError(_join(path, "overrides"), raw_overrides, "expected a mapping",
                                "Write e.g. {\"2026-11-03\": [\"09:00-13:00\", \"14:00-17:00\"]}.")
    for key, value in raw_overrides.items():
        day_path = _join(path, f"overrides.{key}")
        day = _parse_date(key, day_path)
        if day in overrides:
            raise CalendarSpecError(day_path, key, "date overridden twice",
                                    "Give each date one list of intervals.")
        if day in closed:
            raise CalendarSpecError(day_path, key, "date is both a holiday and overridden",
                                    "Keep one: a holiday closes the date, an override "
                                    "replaces its intervals ([] also closes it).")
        overrides[day] = _parse_intervals(value or [], day_path)

    layers: list[CalendarLayer] = []
    for i, item in enumerate(_includes(spec.get("include") or [], _join(path, "include"))):
        item_path = _join(path, f"include[{i}]")
        if isinstance(item, Mapping):
            layers.append(_include_file(item, item_path, base_dir))
            continue
        found = _lookup(item, resolve, item_path)
        if isinstance(found, CalendarLayer):
            layers.append(found)
        elif isinstance(found, WeeklyCalendar):
            layers.extend(found.layers)
        else:
            raise CalendarSpecError(item_path, item, "a composed calendar cannot be included",
                                    "Include date data or a weekly calendar; compose with "
                                    "'intersect'.")
    if closed or ranges or overrides:
        layers.append(CalendarLayer(
            name=f"{title} spec", closed=frozenset(closed), overrides=tuple(overrides.items()),
            closed_ranges=tuple(ranges), source="calendar spec",
        ))
    calendar: Calendar = WeeklyCalendar(title, zone_key, week, tuple(layers), workday)

    others: list[Calendar] = []
    for i, item in enumerate(_names(spec.get("intersect") or [], _join(path, "intersect"))):
        item_path = _join(path, f"intersect[{i}]")
        found = _lookup(item, resolve, item_path)
        if not isinstance(found, Calendar):
            raise CalendarSpecError(item_path, item, "is date data, not a calendar",
                                    "Put date data under 'include'; 'intersect' takes "
                                    "calendars with their own week.")
        others.append(found)
    if others:
        calendar = ComposedCalendar((calendar, *others), "intersection", title)
    return calendar
