"""A small run of benchmarks/import_store_bench.py (marked ``bench``: ``pytest -m bench``):
the pages read once are converted and stored whole, every record created or skipped as
the import skips it, none failed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_bench() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # it imports onec_sync_bench beside it
    spec = importlib.util.spec_from_file_location("import_store_bench", BENCHMARKS / "import_store_bench.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_every_converted_record_is_stored_each_repeat() -> None:
    result = load_bench().run(requests=60, repeat=2, seed=7)
    assert result["problems"] == []
    assert len(result["convert_cpu_s"]) == len(result["store_cpu_s"]) == 2
    counts = result["counts"]
    assert sum(c["read"] for c in counts.values()) == result["records"] > 60
    assert counts["ticket"]["created"] > 0
