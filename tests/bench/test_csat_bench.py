"""A small run of benchmarks/csat_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "csat_bench.py"


@pytest.mark.bench
def test_surveys_planned_in_sql_agree_with_the_per_request_loop_and_beat_it(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("csat_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["csat_bench"] = module
    spec.loader.exec_module(module)
    assert module.main(["--requests", "500"]) == 0  # 1: the two sides decided differently
    out = capsys.readouterr().out
    assert "500 resolved requests: 93 surveys, 35 suppressed, 372 capped" in out
    assert float(out.split("ratio")[1].split("x")[0]) > 1
