"""Fixtures for the SLA calendar tests: the Moscow office calendar on the production calendar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sla import Calendar, calendar_from_spec

OFFICE_DAY = ["09:00-13:00", "14:00-18:00"]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calendars"


def office_spec(**extra: object) -> dict[str, object]:
    """Mon–Fri 09:00–13:00 / 14:00–18:00 in Moscow, plus ``extra`` keys."""
    week: dict[str, list[str]] = {day: OFFICE_DAY for day in ("mon", "tue", "wed", "thu", "fri")}
    return {"name": "office", "timezone": "Europe/Moscow", "week": week, **extra}


@pytest.fixture
def ru_calendar() -> Calendar:
    """The office calendar with the shipped Russian production calendar."""
    return calendar_from_spec(office_spec(include=["ru-production"]))


@pytest.fixture
def plain_calendar() -> Calendar:
    """The office calendar without any holidays."""
    return calendar_from_spec(office_spec())


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def office() -> Callable[..., dict[str, object]]:
    """``office(**extra)`` → the office spec dict with ``extra`` keys (a factory)."""
    return office_spec
