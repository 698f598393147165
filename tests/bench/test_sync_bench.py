"""A small run of benchmarks/sync_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "sync_bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_bench"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_every_mode_writes_every_due_date_back_and_four_workers_beat_one(pg_server: str) -> None:
    bench = load_bench()
    result = bench.run(requests=400, latency=0.05, workers=(1, 4), pg_admin=pg_server, concurrency=(1, 8))  # 1C: ~50 ms a call
    assert bench.report(result) == 0  # everything sent, 4 workers faster than 1, concurrency 8 faster than 1
    assert [m.name for m in result.modes] == ["embedded SQLite, conc. 1", "embedded SQLite, conc. 8",
                                              "embedded PostgreSQL, conc. 4", "queue, 1 worker", "queue, 4 workers"]
    assert all(m.cpu > 0 for m in result.modes)  # every mode's CPU seconds were read
    assert all(m.sent >= result.live > 350 for m in result.modes)
    assert result.ratio > 1.0
