"""A real SMTP server on loopback for the notify tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notify.sink import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server
