"""``crm_bridge.http.retry_after``: the one reading of a Retry-After header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from crm_bridge.http import MAX_RETRY_AFTER, retry_after

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("9999999999999", MAX_RETRY_AFTER),  # not an OverflowError later in a timedelta
    ("1e400", MAX_RETRY_AFTER),
    ("-5", 0.0),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
    (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
    ("Mon, 07 Dec 2026 10:00:30", 30.0),  # no zone: read as UTC
    ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
    ("soon", None),
    ("nan", None),
    ("", None),
    (None, None),
])
def test_seconds_or_a_date_capped_at_an_hour(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=NOW) == seconds


def test_a_cap_of_ones_own() -> None:
    assert retry_after("600", cap=60.0) == 60.0
