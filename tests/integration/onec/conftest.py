"""Fixtures for integration tests against the 1C emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from adapters.onec.emulator import Emulator

#: the emulated base's clock in these tests (naive Moscow wall time)
EMULATOR_NOW = datetime(2024, 3, 20, 12, 0, 0)
#: Basic auth as 1C wants it: UTF-8 bytes (requests would encode a str as latin-1)
EMULATOR_AUTH = ("Администратор".encode(), b"demo")


@pytest.fixture(scope="session")
def onec_emulator() -> Iterator[Emulator]:
    """One seeded emulator for read-only tests of the whole session."""
    with Emulator(port=0, requests=300, seed=1, now=EMULATOR_NOW) as emu:
        yield emu


@pytest.fixture
def fresh_emulator() -> Iterator[Emulator]:
    """A private emulator for tests that write or inject faults."""
    with Emulator(port=0, requests=60, seed=2, now=EMULATOR_NOW) as emu:
        yield emu


@pytest.fixture
def onec_session() -> Iterator[requests.Session]:
    """A requests session authenticated as the emulator's default user."""
    with requests.Session() as session:
        session.auth = EMULATOR_AUTH
        yield session
