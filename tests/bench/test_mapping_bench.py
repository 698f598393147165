"""A small run of benchmarks/mapping_bench.py: compiled mapping vs naive interpretation."""

from __future__ import annotations

import pytest

from benchmarks.mapping_bench import run


@pytest.mark.bench
def test_compiled_mapping_beats_the_naive_interpretation_and_the_target() -> None:
    result = run(20_000)  # run() asserts both give the same canonical fields
    print(f"compiled {result['compiled_per_s']:,.0f}/s, naive {result['naive_per_s']:,.0f}/s, ratio {result['ratio']:.1f}×")
    assert result["fields"] == 20
    assert result["ratio"] > 1.5
    assert result["compiled_per_s"] >= 50_000
