"""What `crm-bridge run --once` reports of one cycle, and when it says the cycle failed."""

from __future__ import annotations

import pytest

from crm_bridge.cli.core import _show_cycle


def test_an_import_error_and_parked_rows_fail_the_cycle_and_counts_are_summed(capsys: pytest.CaptureFixture[str]) -> None:
    result = {
        "sync.pull": {"crm": {"customer": {"read": 3, "created": 2, "failed": 0}, "ticket": {"read": 5, "created": 4}},
                      "erp": {"error": "erp: GET $metadata: no answer"}, "seconds": 1.5},
        "sla.tick": {"checked": 0, "changed": 0, "seconds": 0.0},
        "sync.dispatch": {"crm": {"sent": 7, "parked": 2, "errors": []}, "seconds": 0.2},
    }
    failed = _show_cycle(result, as_json=False)
    assert failed == ["sync.pull erp: erp: GET $metadata: no answer",
                      "sync.dispatch crm: 2 outbox rows parked; see crm-bridge jobs list"]
    shown = " ".join(capsys.readouterr().out.split())
    assert "read 8, created 6" in shown
    assert "nothing to do" in shown


def test_a_clean_cycle_fails_nothing() -> None:
    result = {"sync.pull": {"crm": {"ticket": {"read": 5, "created": 0, "skipped": 5}}, "seconds": 0.3},
              "sync.dispatch": {"crm": {"sent": 0, "parked": 0}, "seconds": 0.1}}
    assert _show_cycle(result, as_json=True) == []
