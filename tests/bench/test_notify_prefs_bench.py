"""A small run of benchmarks/notify_prefs_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "notify_prefs_bench.py"


@pytest.mark.bench
def test_preferences_decided_per_page_agree_with_one_at_a_time_and_beat_it(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("notify_prefs_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["notify_prefs_bench"] = module
    spec.loader.exec_module(module)
    assert module.main(["--contacts", "300", "--page", "100"]) == 0  # 1: the two sides decided differently
    out = capsys.readouterr().out
    assert "300 events, 300 rows decided (30 opted out" in out
    assert float(out.split("ratio")[1].split("x")[0]) > 1
