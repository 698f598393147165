"""A 1C field shorter than what crm-bridge writes: `mapping check` says so beforehand, with
the file:line and the field; `run --once` fails on the parked writes; `status` and `jobs
list` show them with 1C's value."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.emulator.schema import default_edmx

CLI = [sys.executable, "-m", "crm_bridge"]
SLA_STATE = '<Property Name="СостояниеSLA" Type="Edm.String" Nullable="true"/>'


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    edmx = default_edmx().replace(SLA_STATE, SLA_STATE.replace("/>", ' MaxLength="5"/>'))
    with Emulator(requests=20, seed=2, users={DEMO_LOGIN: DEMO_PASSWORD}, edmx=edmx) as emu:
        yield emu


@pytest.fixture
def config(emulator: Emulator, tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([*CLI, "-c", str(config), *args], capture_output=True, text=True, env=env, check=False)


def test_mapping_check_warns_of_a_1c_field_shorter_than_what_is_written(config: Path) -> None:
    done = cli(config, "mapping", "check", "--backend", "demo-1c", "--sample", "0", "--json")
    assert done.returncode == 0, done.stdout + done.stderr  # a warning does not fail the check
    report = json.loads(done.stdout)
    assert (report["problems"], report["warnings"]) == (0, 1)
    [warning] = [p for f in report["files"] for p in f["problems"]]
    assert re.search(r"mappings/ticket\.yaml:\d+:\d+: fields\.sla_state\.from: warning: СостояниеSLA holds 5 characters", warning)


def test_run_once_fails_on_values_1c_cut_and_status_counts_them(config: Path) -> None:
    assert cli(config, "db", "upgrade").returncode == 0
    done = cli(config, "run", "--once")
    assert done.returncode != 0
    assert "outbox rows parked" in done.stdout
    status = json.loads(cli(config, "status", "--json").stdout)
    parked = status["backends"][0]["outbox"]["parked"]
    assert parked > 0
    rows = json.loads(cli(config, "jobs", "list", "--json").stdout)
    assert len(rows) == parked
    assert all(re.search(r"1C stored '\w{5}' for СостояниеSLA \(sent '\w+'\): the field holds 5 characters", r["last_error"])
               for r in rows)
