"""`crm-bridge run --web PORT` as a user runs it: the sync loop against the emulator, and the
web pages beside it showing what it imported; `web link` prints a link those pages open."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from web.security import hash_password

CLI = [sys.executable, "-m", "crm_bridge"]


def test_run_with_web_serves_the_dashboard_of_what_it_syncs(tmp_path: Path):
    from test_cli import free_port, wait_for_line

    port = free_port()
    config = tmp_path / "crm-bridge.yaml"
    with Emulator(requests=30, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        config.write_text(demo_config(emu.base_url, tmp_path / "s.db") + f"""
links: {{secret: "{'k' * 40}", base_url: "http://127.0.0.1:{port}"}}
web:
  session_secret: "{'s' * 40}"
  users: {{lead: {{password_hash: "{hash_password('pw')}"}}}}
""", encoding="utf-8")
        base = [*CLI, "-c", str(config)]
        proc = subprocess.Popen([*base, "run", "--every", "1", "--json", "--web", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_line(proc.stderr, f"web pages at http://127.0.0.1:{port}/dashboard")
            site = f"http://127.0.0.1:{port}"
            assert requests.get(f"{site}/healthz", timeout=10).json()["ok"] is True
            browser = requests.Session()
            csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get(f"{site}/login", timeout=10).text)
            assert csrf
            browser.post(f"{site}/login", data={"login": "lead", "password": "pw", "csrf": csrf.group(1)}, timeout=10)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                board = browser.get(f"{site}/api/dashboard", timeout=10).json()
                if sum(team["total"] for team in board["open_by_team"]):
                    break
                time.sleep(0.3)
            else:
                pytest.fail("the dashboard showed no open request within 60 s of run --web")
            assert "crm_bridge_tickets" in requests.get(f"{site}/metrics", timeout=10).text
            listed = subprocess.run([*base, "sla", "list", "--json"], capture_output=True, text=True, check=True).stdout
            number = json.loads(listed)[0]["number"]
            link = subprocess.run([*base, "web", "link", number, "--only"], capture_output=True, text=True,
                                  check=True).stdout.strip()
            assert link.startswith(f"{site}/cabinet/")
            cabinet = requests.get(link, timeout=10, headers={"accept-language": "en"})
            assert cabinet.status_code == 200
            assert number in cabinet.text
            assert requests.get(link[:-2], timeout=10).status_code == 403
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "web pages at" not in out  # stdout stays JSON lines


def test_demo_keep_running_prints_the_dashboard_and_a_cabinet_link_that_work(tmp_path: Path):
    from test_cli import free_port

    proc = subprocess.Popen([*CLI, "demo", "--serve", "--requests", "40", "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("Ctrl-C stops" in line for line in seen):
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
        text = "".join(seen)
        dashboard = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+)/dashboard \(login lead / demo\)", text)
        cabinet = re.search(r"A customer's cabinet: (http://\S+/cabinet/\S+)", text)
        assert dashboard, text
        assert cabinet, text
        page = requests.get(cabinet.group(1), timeout=10, headers={"accept-language": "ru"})
        assert page.status_code == 200
        assert re.search(r'class="number">[^<]+<', page.text)  # at least one open request, by its 1C number
        browser = requests.Session()
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get(f"{dashboard.group(1)}/login", timeout=10).text)
        assert csrf
        answer = browser.post(f"{dashboard.group(1)}/login", timeout=10,
                              data={"login": "lead", "password": "demo", "csrf": csrf.group(1)})
        assert answer.url.endswith("/dashboard")
        assert "Панель руководителя" in answer.text
        charts = browser.get(f"{dashboard.group(1)}/api/dashboard", timeout=10).json()["charts"]
        assert sum(sum(day["counts"].values()) for day in charts["volume"]) > 0  # the demo's requests, per day
        assert sum(bucket["count"] for bucket in charts["backlog"]) > 0
        assert "<title>Новые обращения по дням и каналам, 14 дней</title>" in answer.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_hash_password_prints_an_argon2_hash_that_checks(capsys):
    from argon2 import PasswordHasher

    from crm_bridge.cli import main

    with pytest.raises(SystemExit) as ended:
        main(["web", "hash-password", "--password", "s3cret пароль", "--json"])
    assert ended.value.code in (0, None)
    hashed = json.loads(capsys.readouterr().out)["password_hash"]
    assert hashed.startswith("$argon2id$")
    assert PasswordHasher().verify(hashed, "s3cret пароль")
