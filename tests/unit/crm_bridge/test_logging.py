from __future__ import annotations

import json
import logging

import pytest

from crm_bridge.cli.common import setup_logging


def test_json_logs_carry_the_event_name_and_never_a_password(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "json")
    log = logging.getLogger("crm_bridge.test")
    log.info("imported %d tickets", 3, extra={"event": "sync.import.page", "backend": "crm"})
    log.warning("login failed: password=%s", "hunter2")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["event"] == "sync.import.page"
    assert lines[0]["backend"] == "crm"
    assert lines[0]["message"] == "imported 3 tickets"
    assert "hunter2" not in json.dumps(lines[1])
    logging.getLogger().handlers.clear()
