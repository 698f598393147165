"""The emulator's two commands as a user starts them: ``crm-bridge emulator`` and
``python -m adapters.onec.emulator``, real processes on a free port, stopped by signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests
from requests.auth import HTTPBasicAuth

ENV = {**os.environ, "COLUMNS": "200"}
DOC = "Document_%D0%98%D0%BD%D1%82%D0%B5%D1%80%D0%B5%D1%81"


def start(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start a command; the base URL from the first line of its stdout."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://\S+/standard\.odata/", line)
    if found is None:
        proc.kill()
        raise AssertionError(f"no base URL in {line!r}: {proc.communicate(timeout=30)}")
    return proc, found.group(0)


def test_crm_bridge_emulator_takes_users_customers_and_faults_and_stops_on_ctrl_c() -> None:
    proc, url = start([sys.executable, "-m", "crm_bridge", "emulator", "--port", "0", "--requests", "100",
                       "--customers", "12", "--user", "Интеграция:secret", "--now", "2026-03-02T12:00:00",
                       "--fault", '{"kind": "status", "status": 503, "entity_set": "' + "Document_Интерес" + '", "count": 1}'])
    try:
        auth = HTTPBasicAuth("Интеграция".encode(), b"secret")  # a UTF-8 login goes as bytes
        assert requests.get(f"{url}{DOC}?$format=json&$top=1", auth=auth, timeout=10).status_code == 503
        assert requests.get(f"{url}{DOC}?$format=json&$top=1", auth=auth, timeout=10).status_code == 200
        partners = requests.get(f"{url}Catalog_%D0%9F%D0%B0%D1%80%D1%82%D0%BD%D0%B5%D1%80%D1%8B/$count"
                                "?$filter=IsFolder%20eq%20false", auth=auth, timeout=10)  # the items, not the folders
        assert partners.text == "12"
        assert requests.get(f"{url}$metadata", auth=HTTPBasicAuth("Администратор".encode(), b"demo"), timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "emulator stopped" in out


def test_crm_bridge_emulator_with_a_bad_user_says_the_expected_form() -> None:
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "emulator", "--user", "nobody"],
                          capture_output=True, text=True, env=ENV, check=False)
    assert done.returncode == 2
    assert "expected LOGIN:PASSWORD" in done.stderr


def test_python_m_emulator_prints_its_url_first_and_stops_on_sigterm() -> None:
    proc, url = start([sys.executable, "-m", "adapters.onec.emulator", "--port", "0", "--requests", "100"])
    try:
        control = url.split("/crm/")[0] + "/__emulator__/stats"
        assert requests.get(control, timeout=10).json()["total"] == 0
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped" in err
