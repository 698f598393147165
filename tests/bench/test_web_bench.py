"""A small run of benchmarks/web_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.bench
def test_the_dashboard_renders_and_its_volume_sql_agrees_with_the_python_pass(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(BENCHMARKS))  # web_bench builds its store with kpi_bench's
    spec = importlib.util.spec_from_file_location("web_bench", BENCHMARKS / "web_bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["web_bench"] = module
    spec.loader.exec_module(module)
    assert module.main(["--n", "2000", "--months", "3"]) == 0  # 1: the SQL and Python counts differ
    out = capsys.readouterr().out
    assert "SQLite: both passes agree on" in out
    assert "the page rendered from it" in out
