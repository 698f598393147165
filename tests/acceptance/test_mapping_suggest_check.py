"""`mapping suggest` writes what `mapping check` accepts, for the sample it read: on a base
whose request states are its own, and on a publication with metadata and (almost) no
records. A value the map does not cover fails `mapping check` and `crm-bridge check` alike,
each naming the file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator

MODELS = ["customer", "contact", "agent", "ticket"]


def workdir_for(emulator: Emulator, tmp_path: Path) -> Path:
    config = demo_config(emulator.base_url, tmp_path / "store.db") + f"    mappings: {tmp_path / 'mappings'}\n"
    (tmp_path / "crm-bridge.yaml").write_text(config, encoding="utf-8")
    return tmp_path


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "HOME": str(workdir)}
    return subprocess.run([sys.executable, "-m", "crm_bridge", "-c", "crm-bridge.yaml", *args],
                          cwd=workdir, capture_output=True, text=True, env=env, timeout=120, check=False)


def suggest_all(workdir: Path) -> None:
    for model in MODELS:
        made = run(workdir, "mapping", "suggest", "--backend", "demo-1c", "--model", model, "--out", f"mappings/{model}.yaml")
        assert made.returncode == 0, made.stderr


@pytest.fixture
def own_states() -> Iterator[Emulator]:
    """A base whose request states are partly its own (no synonym knows them)."""
    with Emulator(requests=60, seed=4, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        renamed = {"В работе": "Квалификация", "Ожидает ответа клиента": "Переговоры"}
        for state in emu.records("Catalog_СостоянияИнтересов"):
            if state["Description"] in renamed:  # over HTTP, as a 1C user would
                answer = requests.patch(f"{emu.base_url}Catalog_СостоянияИнтересов(guid'{state['Ref_Key']}')?$format=json",
                                        json={"Description": renamed[state["Description"]]},
                                        auth=(DEMO_LOGIN.encode(), DEMO_PASSWORD.encode()), timeout=10)  # UTF-8, as 1C wants
                answer.raise_for_status()
        yield emu


def test_suggest_lists_every_state_seen_and_check_passes_then_a_removed_entry_fails_both_checks(
        own_states: Emulator, tmp_path: Path) -> None:
    workdir = workdir_for(own_states, tmp_path)
    suggest_all(workdir)
    ticket = workdir / "mappings" / "ticket.yaml"
    status = next(line for line in ticket.read_text(encoding="utf-8").splitlines() if line.startswith("  status:"))
    seen = {s["Description"] for s in own_states.records("Catalog_СостоянияИнтересов")} & {
        "Новое", "Квалификация", "Переговоры", "Решено", "Закрыто", "Отменено"}
    for state in seen:
        assert f"{state}:" in status
    assert "Квалификация: new" in status
    assert "not recognised (" in status
    assert "check them" in status
    checked = run(workdir, "mapping", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all 4 mapping files OK" in checked.stdout
    assert run(workdir, "db", "upgrade").returncode == 0
    assert run(workdir, "check").returncode == 0

    ticket.write_text(ticket.read_text(encoding="utf-8").replace("Квалификация: new, ", ""), encoding="utf-8")
    line = next(i for i, text in enumerate(ticket.read_text(encoding="utf-8").splitlines(), 1) if text.startswith("  status:"))
    mapping_check = run(workdir, "mapping", "check", "--json")
    assert mapping_check.returncode == 1
    problems = [p for f in json.loads(mapping_check.stdout)["files"] for p in f["problems"]]
    assert any(p.startswith(f"{ticket}:{line}:") and "value-map gap: 'Квалификация'" in p for p in problems), problems
    whole = run(workdir, "check", "--json")
    assert whole.returncode == 1  # not 0 while a mapping problem is reported
    failed = [c for c in json.loads(whole.stdout)["checks"] if not c["ok"]]
    assert len(failed) == 1
    assert failed[0]["what"] == "mappings of demo-1c"
    assert f"{ticket}:{line}:" in failed[0]["detail"]
    assert "'Квалификация'" in failed[0]["detail"]


@pytest.mark.parametrize("requests_in_base", [0, 3])
def test_suggest_then_check_passes_on_a_base_with_metadata_and_few_records(requests_in_base: int, tmp_path: Path) -> None:
    with Emulator(requests=requests_in_base, customers=1, seed=5, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        workdir = workdir_for(emu, tmp_path)
        suggest_all(workdir)
        header = (workdir / "mappings" / "ticket.yaml").read_text(encoding="utf-8").splitlines()[0]
        assert ("sample records" in header) == bool(requests_in_base)
        checked = run(workdir, "mapping", "check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "all 4 mapping files OK" in checked.stdout
