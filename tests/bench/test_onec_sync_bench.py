"""A small run of benchmarks/onec_sync_bench.py (marked ``bench``: ``pytest -m bench``).

The structural facts only (the speed targets need the full size: ``python
benchmarks/onec_sync_bench.py``): what the incremental pass reads, what the stores hold.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "onec_sync_bench.py"
DOC = "Document_Интерес"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("onec_sync_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["onec_sync_bench"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
def test_the_incremental_pass_reads_in_full_only_the_edited_records_and_every_store_agrees_with_1c() -> None:
    bench = load_bench()
    result = bench.run(requests=2000, changed=0.01)
    assert result.problems == []  # stores agree with the emulator, changed-only reads, RSS < 300 MB
    assert bench.report(result, targets=False) == 0

    assert result.bound["customer"] == result.customers == 400
    assert 1900 < result.bound["ticket"] <= 2000  # deletion-marked requests never imported
    initial, incremental, full = (result.phase(n) for n in ("initial import", "incremental", "full re-read"))
    assert initial.records == sum(result.bound.values())
    planning = result.phase("SLA planning")  # the requests the import queued, planned by the tick it wakes
    assert planning.records == result.bound["ticket"]
    assert planning.http == 0  # planning asks nothing of 1C
    assert 0 < result.import_and_sla_per_s < initial.per_s
    assert result.edited == {"ticket": round(result.bound["ticket"] * 0.01), "customer": 4}

    # Only the edited records are read in full; the rest is one listing per model.
    for model in bench.MODELS:
        assert incremental.models[model]["fetched"] == result.edited.get(model, 0)
    listing = math.ceil((result.requests + 1) / 5000)  # scan pages of 5000 stubs
    # keyed reads of up to 40 records, fewer when the query string would pass its limit
    # (every mapped field in $select, each Cyrillic letter six characters percent-encoded):
    # the ticket mapping's $select leaves room for about 7 keys in IIS's 2,048 bytes (20
    # edited requests read in 3 GETs); at least 5 a request
    fetching = math.ceil(result.edited["ticket"] / 5)
    assert incremental.http_by_set[DOC]["GET"] <= listing + fetching
    assert incremental.in_full == sum(result.edited.values())

    # The alternative reads every record in full.
    assert full.in_full >= sum(result.bound.values())

    feed = result.phase("exchange plan")
    if feed is not None:  # the adapter has change_detection: exchange_plan
        assert feed.in_full == sum(result.edited.values())
        assert {m: feed.models[m]["read"] for m in result.edited} == result.edited
