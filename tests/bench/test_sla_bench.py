"""A small run of benchmarks/sla_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "sla_bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sla_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sla_bench"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_sla_is_fast_and_agrees_with_the_alternatives_where_semantics_agree() -> None:
    bench = load_bench()
    result = bench.run(n=5000, subset=200, seed=11, repeat=1)
    assert bench.report(result) == 0
    assert result.round_trip_ok == result.n
    for alternative in result.alternatives:
        assert alternative.add_compared > 50
        assert alternative.add_agree == alternative.add_compared
        assert alternative.between_agree == alternative.between_compared
        # The full run (python benchmarks/sla_bench.py) checks the 10x target; a small run
        # on a shared machine is noisy, so this smoke test keeps a margin.
        assert alternative.add_us / result.add_us >= 5
    assert result.add_per_s >= 50_000
