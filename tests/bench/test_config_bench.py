"""A small run of benchmarks/config_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "config_bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["config_bench"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_a_configuration_of_2000_policies_loads_within_the_pro_rata_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_bench().main(["--policies", "2000", "--repeat", "2"]) == 0
    assert "target: under 0.40 s — met" in capsys.readouterr().out
