"""The log lines of a pass speak of requests as the support desk knows them — by the CRM's
number (`CRM-0000295`) — never by a local id ("ticket 295") or a 1C GUID; the ids stay in
the lines' extras for scripts (and 1C's own error text, quoted after the number, may
carry the URL it refused)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DOC = "Document_Интерес"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LOCAL = re.compile(r"\b(?:ticket|request|customer|agent)s? #?\d+\b")
NUMBER = re.compile(r"\bCRM-\d{7}\b")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def test_the_log_lines_of_a_pass_name_crm_numbers(emulator: Emulator, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    emulator.inject("status", status=503, retry_after=1, method="PATCH", entity_set=DOC, count=3)  # some writes fail
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=FrozenClock(NOW))
    try:
        app.upgrade_db()
        with caplog.at_level(logging.INFO):
            run_cycle(app)
    finally:
        app.close()
    per_record = [r for r in caplog.records if hasattr(r, "local_id")]
    events = {getattr(r, "event", "") for r in per_record}
    assert {"routing.assigned", "sync.export.failed"} <= events, events
    for record in per_record:
        assert NUMBER.search(record.getMessage()), record.getMessage()
    for record in caplog.records:
        message = record.getMessage()
        # 1C's own error text may quote the URL it refused (for whoever debugs it), but the
        # line names the request first; a GUID alone never stands for a record
        assert not GUID.search(message) or NUMBER.search(message), message
        assert not LOCAL.search(message), message
