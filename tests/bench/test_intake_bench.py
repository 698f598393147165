"""A small run of benchmarks/intake_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "intake_bench.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("intake_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["intake_bench"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_the_index_decides_as_the_scan_does_and_beats_it(capsys: pytest.CaptureFixture[str]) -> None:
    module = _bench()
    assert module.main(["--contacts", "5000", "--messages", "300", "--naive-messages", "30"]) == 0  # 1: decisions differ
    out = capsys.readouterr().out
    assert "300 messages parsed, matched against 6,000 customers and contacts" in out
    assert float(out.split("ratio")[1].split("x")[0]) > 1


@pytest.mark.bench
def test_end_to_end_registers_each_message_once_into_an_emulator_in_its_own_process(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench().main(["--skip-match", "--end-to-end", "20"]) == 0  # 1: not once each in 1C, or a number missing
    out = capsys.readouterr().out
    assert "phases (crm-bridge):" in out
    assert "the emulator's process:" in out
    assert "20 messages stored, decided, created and posted in the 1C emulator" in out
