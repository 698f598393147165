"""The web pages served by a real uvicorn on loopback, and by the `crm-bridge web` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from web_fixtures import PASSWORD, cabinet_token, make_app

from web.serve import WebServer


def test_login_dashboard_and_cabinet_over_real_http(tmp_path: Path):
    app = make_app(tmp_path)
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            browser = requests.Session()
            form = browser.get(f"{web.url}/login", timeout=10)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            answer = browser.post(f"{web.url}/login", data={"login": "lead", "password": PASSWORD, "csrf": csrf.group(1)},
                                  timeout=10, allow_redirects=False)
            assert answer.status_code == 303
            session = next(c for c in browser.cookies if c.name == "crmb_session")
            assert session.has_nonstandard_attr("HttpOnly")
            board = browser.get(f"{web.url}/api/dashboard", timeout=10).json()
            assert [r["number"] for r in board["at_risk"]] == ["CRM-0000042"]
            cabinet = requests.get(f"{web.url}/cabinet/{cabinet_token(2)}", timeout=10, headers={"accept-language": "en"})
            assert "CRM-0000050" in cabinet.text
            assert "server" not in cabinet.headers  # uvicorn's banner is off
            assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200
    finally:
        app.close()


def test_healthz_is_503_when_the_store_is_gone(tmp_path: Path):
    app = make_app(tmp_path)
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            (tmp_path / "s.db").unlink()
            (tmp_path / "s.db").mkdir()  # the file's place is now a folder: SQLite cannot open it
            app.store.engine.dispose()
            answer = requests.get(f"{web.url}/healthz", timeout=10)
            assert answer.status_code == 503
            assert answer.json()["ok"] is False
    finally:
        app.close()


def test_the_web_command_serves_until_stopped(tmp_path: Path):
    app = make_app(tmp_path)
    app.close()
    from web_fixtures import web_config

    (tmp_path / "crm-bridge.yaml").write_text(web_config(tmp_path), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-m", "crm_bridge", "-c", str(tmp_path / "crm-bridge.yaml"), "web",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        assert found, line
        for _ in range(100):  # the line comes just before uvicorn accepts
            try:
                answer = requests.get(f"{found.group(1)}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        assert answer.json() == {"ok": True, "store": "reachable"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_web_link_prints_a_cabinet_link_the_server_opens(tmp_path: Path, capsys):
    import json
    from datetime import UTC, datetime

    from web_fixtures import LINK_KEY, web_config

    from crm_bridge.cli import main
    from crm_bridge.links import verify

    make_app(tmp_path).close()
    (tmp_path / "crm-bridge.yaml").write_text(web_config(tmp_path), encoding="utf-8")
    with pytest.raises(SystemExit) as ended:
        main(["-c", str(tmp_path / "crm-bridge.yaml"), "web", "link", "CRM-0000042", "--json"])
    assert ended.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["url"].startswith("http://127.0.0.1:8080/cabinet/")
    assert out["subject"] == "contact:1"
    assert verify(LINK_KEY, out["url"].rsplit("/", 1)[1], "cabinet", datetime.now(UTC)).subject == "contact:1"


@pytest.mark.parametrize(("trusted", "admitted"), [("127.0.0.1/32", True), ("10.0.0.0/8", False)])
def test_a_trusted_proxy_names_the_supervisor_in_its_header(tmp_path: Path, trusted: str, admitted: bool):
    app = make_app(tmp_path, web_extra=f"  proxy: {{header: X-Remote-User, trusted: ['{trusted}']}}\n")
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            answer = requests.get(f"{web.url}/dashboard", headers={"X-Remote-User": "ivanova"}, timeout=10,
                                  allow_redirects=False)
            assert answer.status_code == (200 if admitted else 303)
            if admitted:
                assert '<span class="user">ivanova</span>' in answer.text
                assert "/logout" not in answer.text  # the proxy's user logs out at the proxy
                assert "crmb_session" not in answer.headers.get("set-cookie", "")
            assert requests.get(f"{web.url}/api/dashboard", timeout=10).status_code == 401  # no header: nobody
    finally:
        app.close()
