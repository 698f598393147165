"""With ``change_detection: exchange_plan``, `check`, `onec inspect` and `status` tell an
integrator what the 1C side lacks and why the feed stands still."""

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


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=20, seed=2, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def write_config(emulator: Emulator, tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    change_detection: exchange_plan\n" + extra,
                    encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, "-c", str(config), *args], capture_output=True, text=True, env=env, check=False)


def failed_checks(config: Path) -> list[str]:
    done = cli(config, "check", "--json")
    return [c["detail"] for c in json.loads(done.stdout)["checks"] if not c["ok"]]


def test_check_and_inspect_find_the_plan_and_the_node(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(emulator, tmp_path)
    cli(config, "db", "upgrade")
    done = cli(config, "check")
    assert done.returncode == 0, done.stdout
    assert "exchange plan CRMBridge: node 'CRMB' found" in " ".join(done.stdout.split())
    inspected = cli(config, "onec", "inspect")
    assert inspected.returncode == 0
    assert "node 'CRMB' found" in " ".join(inspected.stdout.split())


def test_a_missing_node_is_named_with_what_to_create(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(emulator, tmp_path, "    exchange_plan: {node: MOST}\n")
    cli(config, "db", "upgrade")
    [detail] = failed_checks(config)
    assert "exchange plan CRMBridge has no node with code 'MOST'" in detail
    assert "nodes there: 'CRMB'" in detail
    inspected = cli(config, "onec", "inspect", "--json")
    assert inspected.returncode == 0
    assert isinstance(json.loads(inspected.stdout), list)  # the listing keeps its shape
    assert "create a node for crm-bridge" in " ".join(inspected.stderr.split())


def test_an_unpublished_plan_says_what_to_publish(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(emulator, tmp_path)
    cli(config, "db", "upgrade")
    emulator.unpublish("ExchangePlan_CRMBridge")
    [detail] = failed_checks(config)
    assert "ExchangePlan_CRMBridge is not published" in detail
    assert "include the exchange plan in the standard OData interface content" in detail


def test_status_shows_why_the_feed_stands_still(emulator: Emulator, tmp_path: Path) -> None:
    config = write_config(emulator, tmp_path)
    cli(config, "db", "upgrade")
    assert cli(config, "run", "--once").returncode == 0
    company = emulator.records("Catalog_Контрагенты")[0]
    emulator.update("Catalog_Контрагенты", company["Ref_Key"], {"Description": "Переименовано"})
    cli(config, "run", "--once")
    done = cli(config, "status", "--json")
    [backend] = json.loads(done.stdout)["backends"]
    assert backend["import"]["status"] == "failed"
    assert "no mapping covers this type" in backend["import"]["error"]
    feed = backend["streams"]["feed:CRMBridge/CRMB"]
    assert (feed["package"], feed["attempts"]) == (1, 1)
    assert company["Ref_Key"] in feed["problems"][0]["reason"]
    shown = cli(config, "status")
    assert "package 1 not acknowledged" in " ".join(shown.stdout.split())
