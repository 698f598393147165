"""`run --once` in a cron job: it drains the cycle and its exit code says how it ended —
0 done, 1 a job failed, 4 stopped at the budget with write-back rows pending — and the
budget case says in one line how many rows are left and what to do.

In-process (typer's runner) against the 1C emulator on loopback: a subprocess per case
would spend most of the test importing; the write-back batch is made small so a budget
of one batch leaves rows behind without generating thousands of requests.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import sync.engine
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.cli import build
from crm_bridge.cli.core import EXIT_BUDGET, EXIT_DONE, EXIT_FAILED


@pytest.fixture(scope="module")
def command() -> typer.Typer:
    return build()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=20, seed=2, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def run_once(command: typer.Typer, config: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(command, ["-c", str(config), "run", "--once", *args], env={"COLUMNS": "80"})
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return done.exit_code, done.stdout


def test_a_cycle_that_drains_the_outbox_exits_0_and_leaves_nothing_due(
        command: typer.Typer, emulator: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    code, out = run_once(command, config, "--json")
    assert code == EXIT_DONE, out
    written = json.loads(out)["sync.dispatch"]["demo-1c"]
    assert written["sent"] > 0
    assert (written["pending"], written["stopped_at_budget"]) == (0, False)


def test_stopping_at_the_budget_says_what_is_left_exits_4_and_the_next_run_drains_it(
        command: typer.Typer, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync.engine, "DISPATCH_BATCH", 5)
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    code, out = run_once(command, config, "--budget", "0")
    assert code == EXIT_BUDGET, out
    said = next(line for line in out.splitlines() if line.startswith("stopped at"))
    left = int(said.split(" with ")[1].split()[0].replace(",", ""))
    assert left > 0
    assert said == f"stopped at the 0 s budget with {left:,} write-back rows pending; run again or raise --budget"
    code, out = run_once(command, config)  # the default budget: 15 minutes
    assert code == EXIT_DONE, out
    assert "stopped at" not in out


def test_a_backend_that_does_not_answer_fails_the_cycle_with_exit_1(command: typer.Typer, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(f"http://127.0.0.1:{port}/crm/odata/standard.odata/", tmp_path / "s.db"), encoding="utf-8")
    code, out = run_once(command, config)
    assert code == EXIT_FAILED, out
    assert "connection refused" in " ".join(out.split())
