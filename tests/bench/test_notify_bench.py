"""A small run of benchmarks/notify_bench.py (marked ``bench``: ``pytest -m bench``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "notify_bench.py"


@pytest.mark.bench
def test_notify_delivers_every_mail_and_beats_a_mail_at_a_time_script(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("notify_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["notify_bench"] = module
    spec.loader.exec_module(module)
    assert module.main(["--mails", "60", "--lang", "en"]) == 0  # 1: a mail went missing
    out = capsys.readouterr().out
    assert "60 acknowledgements (en) rendered and accepted" in out
    assert float(out.split("ratio")[1].split("x")[0]) > 1
