"""The ``sla:`` configuration section: named calendars and the ordered policy list.

With no ``sla:`` section the shipped default applies — the seed table of DESIGN.md on
real calendars: urgent requests 4 h round the clock; technical problems 24 h,
consultations 48 h, thanks and complaints 72 h of office hours (Mon–Fri 09:00–13:00 and
14:00–18:00 Moscow time with the Russian production calendar).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

from crm_bridge.config import Strict, config_problem
from crm_bridge.errors import did_you_mean
from sla.calendar import Calendar, WeeklyCalendar
from sla.due import HORIZON_YEARS
from sla.errors import CalendarSpecError
from sla.policy import PolicySpec, fields_read
from sla.spec import calendar_from_spec

__all__ = ["DEFAULT_CALENDARS", "DEFAULT_POLICIES", "SlaConfig"]

_OFFICE_DAY = ["09:00-13:00", "14:00-18:00"]
DEFAULT_CALENDARS: dict[str, dict[str, Any]] = {
    "office": {
        "timezone": "Europe/Moscow",
        "week": {"mon": _OFFICE_DAY, "tue": _OFFICE_DAY, "wed": _OFFICE_DAY, "thu": _OFFICE_DAY, "fri": _OFFICE_DAY},
        "include": ["ru-production"],
    },
    "24x7": {"timezone": "Europe/Moscow", "week": "24x7"},
}
DEFAULT_POLICIES: list[dict[str, Any]] = [
    {"name": "urgent", "match": {"type": ["urgent"]}, "calendar": "24x7",
     "targets": {"first_response": "30m", "resolution": "4h"}, "escalations": [{"after": "0m", "action": "notify_supervisor"}]},
    {"name": "technical problem", "match": {"type": ["technical_problem"]}, "calendar": "office",
     "targets": {"first_response": "2h", "resolution": "24h"}},
    {"name": "consultation", "match": {"type": ["consultation"]}, "calendar": "office",
     "targets": {"first_response": "4h", "resolution": "48h"}},
    {"name": "thanks and complaints", "match": {"type": ["feedback"]}, "calendar": "office",
     "targets": {"first_response": "8h", "resolution": "72h"}},
    {"name": "everything else", "calendar": "office", "targets": {"first_response": "4h", "resolution": "48h"}},
]


_CLOCK_FIELDS = frozenset({"status", "priority", "type", "created_at", "first_response_at", "resolved_at", "closed_at",
                           "deleted", "customer_id", "team_id", "resolution_due", "first_response_due", "sla_policy",
                           "sla_state", "sla_breached"})


_PREFIX = "sla.calendars."
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _spec_location(path: str, names: Iterable[str]) -> tuple[str | int, ...] | None:
    """The config location of a calendar error path under the ``sla`` section:
    ``sla.calendars.office.include[1]`` -> ``("calendars", "office", "include", 1)``;
    ``None`` when the path names no calendar of ``names``. A calendar's name may hold dots,
    so the longest defined name that fits wins."""
    for name in sorted(names, key=len, reverse=True):
        head = _PREFIX + name
        if path == head or path.startswith((head + ".", head + "[")):
            steps = [int(m[2]) if m[2] else m[1] for m in _STEP.finditer(path[len(head):])]
            return ("calendars", name, *steps)
    return None


def _never_working(calendar: Calendar) -> str | None:
    """Why `calendar` has no working time at all, or None. Caught here, once, a calendar
    without working time would fail every plan made on it."""
    if isinstance(calendar, WeeklyCalendar):
        return None if any(calendar.week) else "has no working hours in any week day"
    first = datetime.now(UTC).year
    if any(calendar.timeline(year).total for year in range(first, first + HORIZON_YEARS)):
        return None
    return f"has no working time in {first}-{first + HORIZON_YEARS - 1} (the calendars it composes never overlap)"


class SlaConfig(Strict):
    """```yaml
    sla:
      calendars:
        office: {timezone: Europe/Moscow, week: {...}, include: [ru-production, {xmlcalendar: calendars/ru-2028.xml}]}
      policies: [{name: ..., match: {...}, calendar: office, targets: {resolution: 8h}}]   # first match wins
      planners: 4   # under ``crm-bridge worker``: sla.tick runs as 4 streams planning in parallel
    ```
    Relative file paths in ``include`` are read from the configuration file's folder (the
    validation context's ``base_dir``), else from the current folder."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    calendars: dict[str, dict[str, Any]] = Field(default_factory=lambda: dict(DEFAULT_CALENDARS))
    policies: list[PolicySpec] = Field(default_factory=lambda: [PolicySpec.model_validate(p) for p in DEFAULT_POLICIES])
    #: Under the scale-out queue, ``sla.tick`` runs as this many streams, each planning the
    #: requests of its id residue (``id % planners``); the embedded runner plans them all.
    planners: int = Field(default=1, ge=1, le=64)
    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> SlaConfig:
        self._base_dir = (info.context or {}).get("base_dir")
        try:
            built = self.built_calendars
        except CalendarSpecError as exc:
            # Reported at the failing field's line (the include entry), not at `sla:`.
            loc = _spec_location(exc.path, self.calendars) or ("calendars",)
            raise config_problem(loc, str(exc).removeprefix(f"{exc.path}: ")) from exc
        for name, calendar in built.items():
            if (problem := _never_working(calendar)) is not None:
                users = [repr(p.name) for p in self.policies if p.calendar == name]
                used = f"; policies {', '.join(users)} can never be met on it" if users else ""
                raise config_problem(("calendars", name), f"calendar {name!r} {problem}{used}. Give it working hours, "
                                     "e.g. week: {mon: [\"09:00-18:00\"], ...} or week: 24x7")
        for index, policy in enumerate(self.policies):
            if policy.calendar not in built:
                msg = (f"policy {policy.name!r} uses calendar {policy.calendar!r}, which is not defined."
                       f"{did_you_mean(policy.calendar, list(built))} Defined: {', '.join(built)}")
                raise config_problem(("policies", index, "calendar"), msg)
        duplicates = sorted(n for n, count in Counter(p.name for p in self.policies).items() if count > 1)
        if duplicates:
            msg = f"policy names must be unique (the ledger records them): {', '.join(duplicates)} appear twice"
            raise ValueError(msg)
        return self

    @cached_property
    def planned_from(self) -> frozenset[str]:
        """The request fields a plan depends on: what the clocks read (dates, status,
        priority, type, the customer and team, deletion), the SLA's own fields, and what
        the policies match on. An import that changed none of them leaves the plan as is."""
        return _CLOCK_FIELDS | fields_read(self.policies)

    @cached_property
    def built_calendars(self) -> dict[str, Calendar]:
        """The named calendars, built once (files in ``include`` read then); a calendar may
        intersect or include another.

        Raises:
            CalendarSpecError: a calendar is invalid; ``.path`` starts ``sla.calendars.<name>``.
        """
        built: dict[str, Calendar] = {}

        def resolve(name: str) -> Calendar | None:
            if name in built:
                return built[name]
            if name in self.calendars and name not in building:
                building.add(name)
                path = f"{_PREFIX}{name}"
                try:
                    built[name] = calendar_from_spec(self.calendars[name], resolve=resolve, name=name,
                                                     path=path, base_dir=self._base_dir)
                except CalendarSpecError as exc:
                    if _spec_location(exc.path, self.calendars) is not None:
                        raise
                    # A layer's own check (its path has no prefix): name the calendar at least.
                    raise CalendarSpecError(path, exc.value, f"{exc.path}: {exc.problem}", exc.hint) from exc
                return built[name]
            return None

        building: set[str] = set()
        for name in self.calendars:
            resolve(name)
        return built

    def calendar(self, name: str) -> Calendar:
        return self.built_calendars[name]
