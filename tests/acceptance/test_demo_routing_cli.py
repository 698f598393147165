"""``crm-bridge demo`` as a user runs it: every open request has an assignee, the table
shows who, and an SLA escalation visibly reassigns an urgent request at risk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "crm_bridge"]


def test_the_demo_assigns_every_open_request_and_an_escalation_reassigns_one_at_risk(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "160", "HOME": str(tmp_path)}
    done = subprocess.run([*CLI, "demo", "--json", "--requests", "150", "--db", str(tmp_path / "demo.db")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    counts = report["counts"]
    assert counts["open"] > 50
    assert counts["open_assigned"] == counts["open"]  # nobody waits: the capacities leave room
    assert report["jobs"]["routing.tick"]["waiting"] == 0
    assert all(row["assignee"] for row in report["rows"] if row["status"] in ("new", "in_progress", "waiting_customer"))
    moves = report["escalations"]
    assert counts["reassigned"] >= 1
    assert counts["reassigned"] == len({m["number"] for m in moves})
    for move in moves:
        assert move["to"]
        assert move["to"] != move["from"]
        assert move["reason"].startswith("SLA ")
