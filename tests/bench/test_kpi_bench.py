"""A small run of benchmarks/kpi_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.bench
def test_the_kpi_report_agrees_with_the_python_pass_and_the_dashboard_renders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = importlib.util.spec_from_file_location("kpi_bench", BENCHMARKS / "kpi_bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kpi_bench"] = module
    spec.loader.exec_module(module)
    assert (
        module.main(["--n", "2000", "--months", "3"]) == 0
    )  # 1: a figure of the SQL report differs from Python's
    out = capsys.readouterr().out
    assert "SQLite: both passes agree on all" in out
    assert "figures of" in out
    assert "(teams, total, agents) and the volume by channel and source" in out
    assert "SQLite: dashboard, 30 days: data" in out
