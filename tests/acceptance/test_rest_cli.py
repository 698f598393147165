"""`crm-bridge rest schema` and `rest try`, as real processes against the Helpline and
Bitrix24 fixture servers: the schema validates the shipped connectors and catches a typo;
try shows the envelope, the flattened records and the next-page decision, masks a URL
token, and refuses an unknown resource with a did-you-mean."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import requests

from adapters.generic_rest.fixtures.bitrix24 import Bitrix24
from adapters.generic_rest.fixtures.helpline import Helpline
from adapters.generic_rest.webhook import sign
from crm_bridge.yamlfile import load_yaml

ROOT = Path(__file__).resolve().parents[2]
REST = ROOT / "adapters" / "generic_rest"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Helpline, Bitrix24]]:
    with Helpline(tickets=130, clients=3, key="k-123") as helpline, Bitrix24(deals=60, token="tok-secret-77") as b24:
        yield helpline, b24


@pytest.fixture
def workdir(tmp_path: Path, servers: tuple[Helpline, Bitrix24]) -> Path:
    (tmp_path / "crm-bridge.yaml").write_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  helpline:
    kind: rest
    connector: {REST / 'examples/helpline/connector.yaml'}
    mappings: {REST / 'examples/helpline/mappings'}
    models: [customer, ticket]
  b24:
    kind: rest
    connector: {REST / 'connectors/bitrix24/connector.yaml'}
    mappings: {REST / 'connectors/bitrix24/mappings'}
""", encoding="utf-8")
    return tmp_path


def run(workdir: Path, servers: tuple[Helpline, Bitrix24], *args: str) -> subprocess.CompletedProcess[str]:
    helpline, b24 = servers
    env = {**os.environ, "COLUMNS": "200", "HELPLINE_URL": helpline.url, "HELPLINE_KEY": "k-123",
           "BITRIX24_WEBHOOK": b24.webhook, "BITRIX24_TOKEN": b24.token}
    return subprocess.run([sys.executable, "-m", "crm_bridge", "-c", "crm-bridge.yaml", "rest", *args],
                          cwd=workdir, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_the_schema_accepts_the_shipped_connectors_and_names_a_misspelt_key(workdir: Path, servers: tuple[Helpline, Bitrix24]) -> None:
    done = run(workdir, servers, "schema", "--out", "schema.json")
    assert done.returncode == 0, done.stderr
    assert "yaml-language-server: $schema=schema.json" in done.stdout
    schema = json.loads((workdir / "schema.json").read_text(encoding="utf-8"))
    env = {"BITRIX24_WEBHOOK": "https://x.bitrix24.ru/rest/1", "BITRIX24_TOKEN": "t", "HELPLINE_URL": "https://h.example",
           "HELPLINE_KEY": "k"} | {f"AMOCRM_{k}": "x" for k in ("URL", "TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET",
                                                                   "REFRESH_TOKEN", "REDIRECT_URI")}
    for path in [REST / "examples/helpline/connector.yaml", *sorted((REST / "connectors").glob("*/connector.yaml"))]:
        jsonschema.validate(load_yaml(path, env).data, schema)  # raises on a mismatch
    doc = load_yaml(REST / "examples/helpline/connector.yaml", env).data
    doc["resources"]["tickets"]["paginatr"] = doc["resources"]["tickets"].pop("paginator")
    with pytest.raises(jsonschema.ValidationError, match="paginatr"):
        jsonschema.validate(doc, schema)
    printed = run(workdir, servers, "schema")
    assert json.loads(printed.stdout) == schema


def test_try_shows_the_envelope_the_records_and_the_next_page(workdir: Path, servers: tuple[Helpline, Bitrix24]) -> None:
    done = run(workdir, servers, "try", "helpline", "tickets", "--limit", "2", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["envelope"] == {"payload": {"items": "[100 records]", "count": 130}}
    assert found["records_on_page"] == 100
    assert found["next"] == {"params": {"offset": 100, "limit": 100}}
    assert [r["number"] for r in found["records"]] == ["HL-00001", "HL-00002"]
    assert found["mappings"]["ticket"]["missing"] == []
    assert "number" in found["mappings"]["ticket"]["reads"]
    text = run(workdir, servers, "try", "helpline", "tickets", "-n", "1")
    assert text.returncode == 0, text.stderr
    assert "100 records on the page; next page:" in text.stdout
    assert "number = HL-00001" in text.stdout
    assert "mapping ticket: reads" in text.stdout


def test_try_masks_the_url_token_and_knows_the_last_page(workdir: Path, servers: tuple[Helpline, Bitrix24]) -> None:
    done = run(workdir, servers, "try", "b24", "companies", "--json")
    assert done.returncode == 0, done.stderr
    assert "tok-secret-77" not in done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert "/rest/1/***/crm.company.list" in found["url"]
    assert found["next"] == {"last_page": True}
    deals = json.loads(run(workdir, servers, "try", "b24", "deals", "--json").stdout)
    assert deals["next"] == {"params": {"start": 50}}


def test_try_refuses_an_unknown_resource_with_a_did_you_mean(workdir: Path, servers: tuple[Helpline, Bitrix24]) -> None:
    done = run(workdir, servers, "try", "helpline", "tickts")
    assert done.returncode == 2
    assert "no resource 'tickts'. Did you mean 'tickets'?" in done.stderr


def test_run_listens_for_webhooks_when_configured(workdir: Path, servers: tuple[Helpline, Bitrix24]) -> None:
    helpline, b24 = servers
    with socket.socket() as probe:  # a free port for the listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = workdir / "crm-bridge.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(f'webhooks: {{listen: "127.0.0.1:{port}", settle: 0.1}}\n'
                      + text[:text.index("  b24:")], encoding="utf-8")  # Helpline alone
    env = {**os.environ, "HELPLINE_URL": helpline.url, "HELPLINE_KEY": "k-123", "HELPLINE_WEBHOOK_SECRET": "whs"}
    proc = subprocess.Popen([sys.executable, "-m", "crm_bridge", "-c", "crm-bridge.yaml", "run", "--every", "3600"],
                            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reads = helpline.calls["GET /tickets/{id}"]
    try:
        body = b'{"event": "ticket.updated", "ticket": {"id": 3}}'
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Helpline-Timestamp": stamp,
                   "X-Helpline-Signature": sign("whs", stamp, body)}
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.post(f"http://127.0.0.1:{port}/webhooks/helpline", data=body, headers=headers, timeout=10)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "crm-bridge run did not listen"
                time.sleep(0.1)
        assert (answer.status_code, answer.text.strip()) == (202, "1 records to read again")
        forged = requests.post(f"http://127.0.0.1:{port}/webhooks/helpline", data=body, timeout=10,
                               headers={**headers, "X-Helpline-Signature": "0" * 64})
        assert forged.status_code == 401
        while helpline.calls["GET /tickets/{id}"] == reads:  # the run's drainer reads ticket 3 again
            assert proc.poll() is None
            assert time.monotonic() < deadline, "the pinged ticket was not read again"
            time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "whs" not in err
