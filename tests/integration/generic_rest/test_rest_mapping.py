"""`mapping suggest`, `mapping check` and `mapping preview` against REST backends, over the
fixture servers on loopback: Helpline (by a sample page, and by its OpenAPI document),
and the shipped amoCRM and Bitrix24 connectors with their mappings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.generic_rest.fixtures.amocrm import AmoCRM
from adapters.generic_rest.fixtures.bitrix24 import Bitrix24
from adapters.generic_rest.fixtures.helpline import EXAMPLE, Helpline, example_config
from crm_bridge.cli import main

CONNECTORS = Path(__file__).parents[3] / "adapters" / "generic_rest" / "connectors"


def run(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(["-c", str(config), *args])
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out, err


@pytest.fixture
def helpline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Helpline]:
    with Helpline(tickets=30, clients=5, key="k-1") as server:
        monkeypatch.setenv("HELPLINE_URL", server.url)
        monkeypatch.setenv("HELPLINE_KEY", "k-1")
        yield server


def helpline_config(tmp_path: Path, *, openapi: bool = False) -> Path:
    mappings = tmp_path / "mappings"
    shutil.copytree(EXAMPLE / "mappings", mappings)
    connector = tmp_path / "helpline.yaml"
    text = (EXAMPLE / "connector.yaml").read_text(encoding="utf-8").replace("per_second: 20", "per_second: 500")
    connector.write_text(text + (f"openapi: {EXAMPLE / 'openapi.yaml'}\n" if openapi else ""), encoding="utf-8")
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(example_config(f"sqlite:///{tmp_path / 's.db'}", connector=connector)
                      .replace(str(EXAMPLE / "mappings"), str(mappings)), encoding="utf-8")
    return config


def test_suggest_all_reads_a_first_page_of_each_resource_and_proposes_both_files(
        helpline: Helpline, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = helpline_config(tmp_path)
    code, out, err = run(config, "mapping", "suggest", "--backend", "helpline", "--all", "--out", str(tmp_path / "new"), "--json", capsys=capsys)
    assert code == 0, err
    files = {f["model"]: f["entity"] for f in json.loads(out)["files"]}
    assert files == {"customer": "clients", "ticket": "tickets"}
    ticket = (tmp_path / "new" / "ticket.yaml").read_text(encoding="utf-8")
    assert "the first page of each resource" in ticket
    assert "subject: {from: subject" in ticket
    assert "status: {from: state, map: {" in ticket  # the values seen in the sample became a value map
    assert "email: {from: email" in (tmp_path / "new" / "customer.yaml").read_text(encoding="utf-8")


def test_check_names_a_misspelt_field_from_the_sample_with_a_did_you_mean(
        helpline: Helpline, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = helpline_config(tmp_path)
    ticket = tmp_path / "mappings" / "ticket.yaml"
    ticket.write_text(ticket.read_text(encoding="utf-8").replace("from: subject", "from: subjct"), encoding="utf-8")
    code, out, err = run(config, "mapping", "check", "--backend", "helpline", "--json", capsys=capsys)
    assert code != 0
    problems = json.dumps(json.loads(out), ensure_ascii=False)
    assert "has no field 'subjct'. Did you mean 'subject'?" in problems, problems
    assert "ticket.yaml:9:" in problems  # file:line of the name


def test_an_openapi_document_gives_types_and_lengths_even_for_an_empty_listing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from crm_bridge.app import App

    with Helpline(tickets=0, clients=0, key="k-1") as server:
        monkeypatch.setenv("HELPLINE_URL", server.url)
        monkeypatch.setenv("HELPLINE_KEY", "k-1")
        config = helpline_config(tmp_path, openapi=True)
        app = App.from_path(config) if hasattr(App, "from_path") else App.from_text(config.read_text(encoding="utf-8"))
        try:
            backend: Any = app.backend("helpline")
            types = backend.describe()
            assert types["tickets"]["opened"] == "Edm.DateTimeOffset"  # allOf and $ref followed
            assert types["tickets"]["rev"] == "Edm.Int64"
            assert types["clients"]["vip"] == "Edm.Boolean"  # the page schema named by $ref, envelope followed
            assert backend.describe_lengths() == {"tickets": {"number": 16, "subject": 200},
                                                  "clients": {"title": 150, "email": 100}}
            assert server.calls["GET /tickets"] == 0  # the document, not the CRM, was asked
        finally:
            app.close()
        ticket = tmp_path / "mappings" / "ticket.yaml"
        ticket.write_text(ticket.read_text(encoding="utf-8").replace("from: client,", "from: clinet,"), encoding="utf-8")
        code, out, _ = run(config, "mapping", "check", "--backend", "helpline", "--json", capsys=capsys)
        assert code != 0
        assert "Did you mean 'client'" in out  # no ticket exists, and still the name is checked


@pytest.fixture
def amo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    with AmoCRM(leads=12, companies=3, users=2) as server:
        for name, value in {"AMOCRM_URL": server.url, "AMOCRM_TOKEN_URL": f"{server.origin}/oauth2/access_token",
                            "AMOCRM_CLIENT_ID": server.client_id, "AMOCRM_CLIENT_SECRET": server.client_secret,
                            "AMOCRM_REFRESH_TOKEN": "install-refresh-token",
                            "AMOCRM_REDIRECT_URI": server.redirect_uri}.items():
            monkeypatch.setenv(name, value)
        config = tmp_path / "crm-bridge.yaml"
        config.write_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  amo:
    kind: rest
    connector: {CONNECTORS / 'amocrm' / 'connector.yaml'}
    mappings: {CONNECTORS / 'amocrm' / 'mappings'}
    models: [agent, customer, ticket]
    token_file: {tmp_path / 'tokens.json'}
""", encoding="utf-8")
        yield config


@pytest.fixture
def b24(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    with Bitrix24(deals=12, companies=3, users=2) as server:
        monkeypatch.setenv("BITRIX24_WEBHOOK", server.webhook)
        monkeypatch.setenv("BITRIX24_TOKEN", server.token)
        config = tmp_path / "crm-bridge.yaml"
        config.write_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  b24:
    kind: rest
    connector: {CONNECTORS / 'bitrix24' / 'connector.yaml'}
    mappings: {CONNECTORS / 'bitrix24' / 'mappings'}
    models: [agent, customer, ticket]
""", encoding="utf-8")
        yield config


@pytest.mark.parametrize(("crm", "backend"), [("amo", "amo"), ("b24", "b24")])
def test_shipped_mappings_check_and_preview_against_their_crm(crm: str, backend: str, request: pytest.FixtureRequest,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    config: Path = request.getfixturevalue(crm)
    code, out, err = run(config, "mapping", "check", "--backend", backend, "--sample", "20", capsys=capsys)
    assert code == 0, out + err
    assert "all 3 mapping files OK" in out
    if crm == "amo":  # the due date's custom field is left out by amoCRM until crm-bridge writes it: said, not failed
        assert "warning: 'cf_900001' is in none of the" in " ".join(out.split())
    code, out, err = run(config, "mapping", "preview", "--backend", backend, "--model", "ticket", "--limit", "3", "--json", capsys=capsys)
    assert code == 0, err
    records = json.loads(out)["records"]
    assert len(records) == 3
    for record in records:
        assert record["problems"] == []
        assert record["canonical"]["subject"]
        assert record["canonical"]["customer_id"].startswith("→customer ")  # the company the lead/deal names
        assert record["canonical"]["status"] in {"new", "in_progress", "waiting_customer", "resolved", "closed", "cancelled"}
