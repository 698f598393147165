"""Production calendars: the shipped Russian one and the loader of their JSON format.

The JSON format (``sla/data/ru-production.json``, see ``sla/data/README.md``) has one
object per year::

    {"_meta": {"sources": {...}},
     "2024": {"holidays": {"dates": [...]},          # closed dates
              "working_weekends": {"dates": [...]},  # Sat/Sun working days (transfers)
              "shortened": {"dates": [...]}}}        # pre-holiday days, one hour shorter

It becomes a ``CalendarLayer``: holidays close the date; a working weekend day gets the
calendar's usual workday intervals; a shortened day loses its last hour of working time
(a working Saturday that is also shortened gets both: 2 Nov 2024, 1 Nov 2025).

This module is the I/O edge: it reads files and the package data (cached); the calendar
and the math stay pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

from sla.calendar import CalendarLayer
from sla.errors import CalendarDataError
from sla.labour_code import labour_code_year

__all__ = [
    "BUILTIN_LAYERS",
    "builtin_layer",
    "layer_from_production",
    "load_production_json",
    "ru_production",
]

_SECTIONS = {"holidays": "closed", "working_weekends": "working", "shortened": "shortened"}


def _dates(section: object, where: str, year: int) -> set[date]:
    if not isinstance(section, Mapping) or not isinstance(section.get("dates"), list):
        raise CalendarDataError(where, section, "expected {\"dates\": [\"YYYY-MM-DD\", ...]}")
    out: set[date] = set()
    for i, text in enumerate(section["dates"]):
        try:
            day = date.fromisoformat(text)
        except (TypeError, ValueError):
            raise CalendarDataError(f"{where}.dates[{i}]", text, "not a date",
                                    "Write 'YYYY-MM-DD'.") from None
        if day.year != year:
            raise CalendarDataError(f"{where}.dates[{i}]", text, f"date outside {year}",
                                    "Put each date under its own year.")
        out.add(day)
    return out


def layer_from_production(data: Mapping[str, object], *, name: str, where: str = "<data>",
                          series: str = "", outside: Callable[[int], CalendarLayer] | None = None) -> CalendarLayer:
    """Build a layer from parsed production-calendar JSON.

    Raises:
        CalendarDataError: a year or a date is malformed, or a date is both closed and
            working (``.path`` names the file and the field).
    """
    found: dict[str, set[date]] = {"closed": set(), "working": set(), "shortened": set()}
    years: list[int] = []
    for key, value in data.items():
        if key.startswith("_"):
            continue
        if not (key.isdigit() and len(key) == len("YYYY")) or not isinstance(value, Mapping):
            raise CalendarDataError(f"{where}:{key}", key, "expected a year object",
                                    "Top-level keys are years ('2026') or start with '_'.")
        year = int(key)
        years.append(year)
        for section, target in _SECTIONS.items():
            if section in value:
                found[target] |= _dates(value[section], f"{where}:{key}.{section}", year)
    both = found["closed"] & (found["working"] | found["shortened"])
    if both:
        first = min(both).isoformat()
        raise CalendarDataError(f"{where}:{first[:4]}", first, "date is both closed and working",
                                "Remove it from 'holidays' or from the working lists.")
    meta = data.get("_meta")
    sources = meta.get("sources") if isinstance(meta, Mapping) else None
    source = "; ".join(f"{k}: {v}" for k, v in sources.items()) if isinstance(
        sources, Mapping) else where
    return CalendarLayer(
        name=name,
        closed=frozenset(found["closed"]),
        working=frozenset(found["working"]),
        shortened=frozenset(found["shortened"]),
        source=source,
        years=tuple(sorted(years)),
        series=series,
        outside=outside,
    )


def load_production_json(path: str | Path, *, name: str | None = None) -> CalendarLayer:
    """Read a production-calendar JSON file (the shipped format) into a layer.

    Raises:
        CalendarDataError: unreadable JSON or malformed content.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CalendarDataError(str(file), None, f"cannot read production calendar: {exc}",
                                "Give a UTF-8 JSON file in the shipped format.") from exc
    if not isinstance(data, Mapping):
        raise CalendarDataError(str(file), type(data).__name__, "expected a JSON object")
    return layer_from_production(data, name=name or file.stem, where=str(file))


@cache
def ru_production() -> CalendarLayer:
    """The shipped Russian production calendar (5-day week), 2023–2027, cached.

    Its series is ``ru``: a national xmlcalendar file of a later year continues it. Outside
    its years the Labour Code's fixed holidays apply (``sla.labour_code``), flagged.
    """
    text = resources.files("sla").joinpath("data/ru-production.json").read_text("utf-8")
    return layer_from_production(json.loads(text), name="ru-production", where="sla/data/ru-production.json",
                                 series="ru", outside=labour_code_year)


#: Names ``include`` resolves without a resolver.
BUILTIN_LAYERS: Mapping[str, Callable[[], CalendarLayer]] = {"ru-production": ru_production}


def builtin_layer(name: str) -> CalendarLayer | None:
    """The shipped layer called ``name``, or ``None``."""
    factory = BUILTIN_LAYERS.get(name)
    return factory() if factory is not None else None
