"""The CLI as a user runs it: real processes, the emulator over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator

CLI = [sys.executable, "-m", "crm_bridge"]
DOC = "Document_Интерес"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_line(stream: object, text: str, timeout: float = 60) -> None:
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        seen.append(line)
        if text in line or not line:
            break
    assert any(text in line for line in seen), "".join(seen)


def read_json_document(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, object]:
    """Read stdout up to the end of the first top-level JSON object."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.rstrip() == "}":
            result: dict[str, object] = json.loads("".join(lines))
            return result
    raise AssertionError(f"no JSON document on stdout: {''.join(lines)[:500]}")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "160", "HOME": str(tmp_path)}


def test_demo_writes_due_dates_that_1c_serves_over_odata(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen([*CLI, "demo", "--json", "--keep-running", "--port", str(port), "--requests", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        report = read_json_document(proc)
        counts = report["counts"]
        assert isinstance(counts, dict)
        assert counts["tickets"] > 100
        assert counts["written_back"] == counts["with_due"]
        assert counts["with_due"] > 0.7 * counts["tickets"]  # the rest wait for the customer: paused, no due date
        assert counts["telegram_messages"] > 0  # breaches in the supervisors' chat (the demo's local Bot API)
        assert counts["webhook_posts"] >= counts["telegram_messages"]  # and, signed, at the webhook (escalations too)
        assert report["summaries"]["kpi"][0].startswith(f"KPIs, last 30 days: {counts['tickets']} requests opened")
        # the customer who chose a daily Telegram digest got exactly that: no mail, one row
        # waiting for their digest, after a 1C user resolved their request
        chose = report["digest_customer"]
        assert chose["rows"] == {"telegram pending": 1}, chose
        assert chose["waiting_because"] == ["folded into the daily digest at 09:00 MSK"]
        # read the due dates back from the running emulator, as `curl` would
        url = f"http://127.0.0.1:{port}/crm/odata/standard.odata/{DOC}"
        answer = requests.get(url, params={"$format": "json", "$select": "Number,СрокИсполнения,DeletionMark"},
                              auth=(DEMO_LOGIN.encode(), DEMO_PASSWORD.encode()), timeout=30)
        answer.raise_for_status()
        served = {r["Number"]: r["СрокИсполнения"] for r in answer.json()["value"] if not r["DeletionMark"]}
        rows = report["rows"]
        assert isinstance(rows, list)
        assert rows
        for row in rows:
            day, clock = (row["due"] or "- -").split(" ")
            if row["due"] is not None:
                assert served[row["number"]][5:16] == f"{day[3:5]}-{day[0:2]}T{clock}", row
        assert sum(not v.startswith("0001-") for v in served.values()) == counts["with_due"]
        _intake_came_in_once_each(report["intake"], port)
        web = _intake_lines_then_ready(proc)
        assert requests.get(f"{web}/request", timeout=10).status_code == 200  # the form is on in --keep-running
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err


def _intake_came_in_once_each(intake: object, port: int) -> None:
    """Issue #24's "done when", in the demo: a mail, the form and an API call each one
    request in 1C (read back over OData as curl would) with its customer, 1C's number, due
    dates and an acknowledgement in the customer's language; the reply threaded into the
    first, where it started the next-response clock."""
    assert isinstance(intake, dict)
    url = f"http://127.0.0.1:{port}/crm/odata/standard.odata/{DOC}"
    answer = requests.get(url, params={"$format": "json", "$select": "Ref_Key,Number,Тема,Posted,Партнер_Key,СрокИсполнения"},
                          auth=(DEMO_LOGIN.encode(), DEMO_PASSWORD.encode()), timeout=30)
    answer.raise_for_status()
    docs = answer.json()["value"]
    sent = intake["requests"]
    assert [(r["channel"], r["source"]) for r in sent] == [("e-mail", "external"), ("web form", "external"), ("API", "internal")]
    for row in sent:
        mine = [d for d in docs if d["Тема"] == row["subject"]]
        assert len(mine) == 1, row  # once: the mail and the API call were each sent twice
        assert (row["stored"], row["requests"]) == (1, 1), row
        doc = mine[0]
        assert doc["Ref_Key"] == row["remote_id"]
        assert doc["Posted"] is True
        assert doc["Number"] == row["number"]
        assert doc["Number"].startswith("CRM-")
        assert doc["Партнер_Key"] == row["customer_remote_id"]  # the customer intake matched, in 1C
        assert row["customer_id"] == row["contact_customer_id"]  # and it is the writer's own
        assert doc["СрокИсполнения"] == row["resolution_due_iso"][:19]  # the SLA plan's due date, written back
        assert row["first_response_due"]
        [ack] = row["acknowledgements"]
        assert row["number"] in ack["subject"]  # "Обращение CRM-0000121 принято: …" / "Request CRM-0000123 received: …"
    assert [r["matched_by"].split(" ")[0] for r in sent] == ["email", "phone", "email"]
    assert [r["acknowledgements"][0]["language"] for r in sent] == ["ru", "ru", "en"]
    assert sent[0]["acknowledgements"][0]["subject"].startswith(f"Обращение {sent[0]['number']} принято")
    assert sent[2]["acknowledgements"][0]["subject"].startswith(f"Request {sent[2]['number']} received")
    assert sent[2]["retried_reference"] == sent[2]["reference"]  # the API's retry: the same request
    assert [r["type"] for r in sent] == ["consultation", "technical_problem", "technical_problem"]  # the demo's rules
    reply = intake["reply"]
    assert reply["state"] == "threaded"
    assert reply["number"] == sent[0]["number"]
    assert reply["rule"].startswith("reply to our mail")
    assert reply["new_requests"] == 0
    assert [e["author"] for e in reply["message_events"]] == ["customer"]
    clock = reply["next_response"]
    assert clock["started"] == reply["message_events"][0]["at"]  # the customer's message started it …
    assert clock["state"] == "on_track"  # … and it runs until an agent answers
    assert clock["due"]


def _intake_lines_then_ready(proc: subprocess.Popen[str]) -> str:
    """The web pages' address from the lines `demo --keep-running` prints for intake (stderr with --json)."""
    assert proc.stderr is not None
    web = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "the request form: " in line:
            web = line.split("the request form: ")[1].strip().removesuffix("/request")
        if "Authorization: Bearer " in line:
            assert "/api/intake/requests" in line
        if "Ctrl-C stops both" in line or not line:
            break
    assert web, "no request form line"
    return web


def test_init_check_and_run_against_a_standalone_emulator(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "crm-bridge.yaml"
    with Emulator(requests=40, seed=5, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        subprocess.run([*CLI, "init", str(config)], check=True, env=env, capture_output=True)
        env = {**env, "ONEC_PASSWORD": DEMO_PASSWORD}  # the starter file names the variable, with no default
        text = config.read_text(encoding="utf-8").replace("http://127.0.0.1:8080/", f"http://127.0.0.1:{emu.port}/")
        assert "write_back: shadow" in text  # the starter file starts in shadow mode; this run goes live at once
        config.write_text(text.replace("write_back: shadow", "write_back: live"), encoding="utf-8")
        base = [*CLI, "-c", str(config)]
        pending = subprocess.run([*base, "check", "--json"], env=env, capture_output=True, text=True)
        assert pending.returncode == 1  # the store has no tables yet
        assert "run crm-bridge db upgrade" in pending.stdout
        subprocess.run([*base, "db", "upgrade"], check=True, env=env, capture_output=True)
        checked = subprocess.run([*base, "check", "--json"], env=env, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["ok"] is True
        assert any("Document_Интерес" in c["detail"] for c in report["checks"])

        metrics_port = free_port()
        proc = subprocess.Popen([*base, "run", "--every", "1", "--json", "--metrics-port", str(metrics_port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                docs = [d for d in emu.records(DOC) if not d["DeletionMark"]]
                if sum(d["СрокИсполнения"] != "0001-01-01T00:00:00" for d in docs) > 0.7 * len(docs):
                    break
                time.sleep(0.3)
            else:
                pytest.fail("crm-bridge run did not write due dates back within 60 s")
            scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            bound = len([d for d in emu.records(DOC) if not d["DeletionMark"]])
            assert f'crm_bridge_bindings{{backend="crm",model="ticket",state="active"}} {bound}.0' in scraped
            assert 'crm_bridge_outbox_rows{backend="crm",state="sent"}' in scraped
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "stopped cleanly" in out
        assert (tmp_path / "crm-bridge.db").exists()  # the relative store path is next to the config
        once = subprocess.run([*base, "metrics"], env=env, capture_output=True, text=True, check=True).stdout
        assert "crm_bridge_import_lag_seconds" in once
        assert 'crm_bridge_tickets{sla_state=' in once or 'crm_bridge_tickets{status=' in once


def test_a_broken_configuration_exits_2_and_names_the_line(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "crm-bridge.yaml"
    config.write_text("store:\n  ulr: sqlite:///x.db\n", encoding="utf-8")
    done = subprocess.run([*CLI, "-c", str(config), "check"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert f"{config}:2:3: store.ulr: unknown key. Did you mean 'url'?" in " ".join(done.stderr.split())


def test_addons_json_lists_load_order(env: dict[str, str]) -> None:
    done = subprocess.run([*CLI, "addons", "--json"], env=env, capture_output=True, text=True, check=True)
    names = [a["name"] for a in json.loads(done.stdout)]
    assert names[0] == "crm_bridge"
    assert names.index("sync") < names.index("adapters.onec")


@pytest.mark.parametrize("command", [[], ["demo"], ["run"], ["check"], ["init"], ["db", "upgrade"], ["emulator"], ["addons"],
                                     ["status"], ["metrics"], ["conflicts", "list"], ["conflicts", "resolve"], ["jobs", "list"],
                                     ["jobs", "retry"], ["jobs", "cancel"]])
def test_every_command_has_help_with_an_example(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([*CLI, *command, "--help"], env=env, capture_output=True, text=True, check=True)
    assert "Usage:" in done.stdout
    if command:
        assert "Example:" in done.stdout


def test_every_command_and_group_in_the_tree_has_an_example() -> None:
    """The whole tree, addons' commands included, walked rather than listed by hand."""
    import typer

    from crm_bridge.cli import build

    root = typer.main.get_command(build())
    missing: list[str] = []

    def walk(command: object, path: str) -> None:
        if path and "Example:" not in (getattr(command, "help", None) or ""):
            missing.append(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(root, "")
    assert missing == []
