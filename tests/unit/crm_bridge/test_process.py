"""The process-wide collector settings, checked in a fresh interpreter (pytest's own keeps CPython's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _in_child(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_tune_gc_freezes_startup_and_raises_the_young_threshold_once() -> None:
    got = _in_child(
        "import gc, json\n"
        "from crm_bridge.process import GC_THRESHOLDS, tune_gc\n"
        "before = gc.get_threshold()\n"
        "tune_gc(); frozen = gc.get_freeze_count()\n"
        "gc.set_threshold(*before); tune_gc()\n"  # a second call changes nothing
        "print(json.dumps({'before': before, 'frozen': frozen, 'after_second': gc.get_threshold(),"
        " 'wanted': GC_THRESHOLDS}))\n")
    assert got["before"] != got["wanted"]  # CPython's own (700 on 3.11)
    assert int(str(got["frozen"])) > 10_000  # the modules, classes and functions loaded so far
    assert got["after_second"] == got["before"]


def test_a_command_tunes_the_collector_once_it_has_opened_the_app(tmp_path: Path) -> None:
    """Tuned in ``open_app``: by then the command's heavy code (store, engines) is loaded and
    frozen with it; ``--help`` and ``init`` load no such code, so they need no tuning."""
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n', encoding="utf-8")
    got = _in_child(
        "import gc, json, sys\n"
        "from crm_bridge.cli import main\n"
        f"sys.argv = ['crm-bridge', '-c', {str(config)!r}, 'db', 'upgrade']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "from crm_bridge.process import GC_THRESHOLDS\n"
        "print(json.dumps({'threshold': gc.get_threshold(), 'wanted': GC_THRESHOLDS, 'frozen': gc.get_freeze_count()}))\n")
    assert got["threshold"] == got["wanted"]
    assert int(str(got["frozen"])) > 10_000
