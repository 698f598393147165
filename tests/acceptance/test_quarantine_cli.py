"""`crm-bridge quarantine list/show/retry` and `status` over a real emulator: a request with
an impossible date is set aside, shown with its raw value, and cleared by a retry once it
is corrected in 1C."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator

CLI = [sys.executable, "-m", "crm_bridge"]
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=20, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def config(emulator: Emulator, tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([*CLI, "-c", str(config), *args], capture_output=True, text=True, env=env, check=False)


def test_a_record_set_aside_is_listed_shown_counted_and_cleared_by_retry_once_fixed(
        emulator: Emulator, config: Path) -> None:
    key = sorted(d["Ref_Key"] for d in emulator.records(DOC) if not d["DeletionMark"])[5]
    good = emulator.get(DOC, key)
    assert good is not None
    etype = emulator.schema.sets[DOC].type
    with emulator.store.lock:
        emulator.store.lookup(DOC, key)[etype.index["Date"]] = "2026-13-45T25:61:00"  # type: ignore[index]
    assert cli(config, "db", "upgrade").returncode == 0
    cli(config, "run", "--once")

    listed = json.loads(cli(config, "quarantine", "list", "--json").stdout)
    assert [(e["model"], e["remote_id"], e["stage"]) for e in listed] == [("ticket", key, "read")]
    text = cli(config, "quarantine", "list").stdout
    assert key in text
    assert "read" in text
    shown = cli(config, "quarantine", "show", str(listed[0]["id"]), "--json")
    assert shown.returncode == 0
    entry = json.loads(shown.stdout)
    assert "Date: '2026-13-45T25:61:00' is not a valid date and time" in entry["reason"]
    assert '"Date": "2026-13-45T25:61:00"' in entry["raw"]
    assert "2026-13-45T25:61:00" in cli(config, "quarantine", "show", str(listed[0]["id"])).stdout
    status = json.loads(cli(config, "status", "--json").stdout)
    assert status["backends"][0]["quarantine"] == {"held": 1, "notes": 0}
    assert "1 record(s) set aside" in cli(config, "status").stdout

    still = json.loads(cli(config, "quarantine", "retry", str(entry["id"]), "--json").stdout)
    assert still == {"cleared": [], "held": [entry["id"]], "requeued": []}  # 1C still holds the bad date
    emulator.update(DOC, key, {"Date": good["Date"]})
    cleared = json.loads(cli(config, "quarantine", "retry", "--all", "--json").stdout)
    assert cleared == {"cleared": [entry["id"]], "held": [], "requeued": []}
    assert json.loads(cli(config, "quarantine", "list", "--json").stdout) == []
    assert json.loads(cli(config, "status", "--json").stdout)["backends"][0]["quarantine"] == {"held": 0, "notes": 0}


def test_show_of_an_unknown_entry_says_where_to_look(config: Path) -> None:
    assert cli(config, "db", "upgrade").returncode == 0
    done = cli(config, "quarantine", "show", "99")
    assert done.returncode == 1
    assert "no quarantine entry 99; see `crm-bridge quarantine list`" in done.stdout


@pytest.mark.parametrize("command", ["list", "show", "retry"])
def test_every_quarantine_command_has_help_with_an_example(config: Path, command: str) -> None:
    done = cli(config, "quarantine", command, "--help")
    assert done.returncode == 0
    assert f"crm-bridge quarantine {command}" in done.stdout
