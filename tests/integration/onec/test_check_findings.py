"""`check` against a 1C backend (issue #7 point 6), the findings the CLI tests do not
reach: a mapped field 1C does not have, a lookup catalog not published, a backend that
does not answer — each says exactly what is missing and where to fix it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.onec.adapter import DEFAULT_MAPPINGS
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.emulator.schema import default_edmx
from adapters.onec.errors import OneCUnavailable
from crm_bridge.app import App


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=10, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def run_check(app: App) -> tuple[list[dict[str, Any]], list[str]]:
    """Every finding of the backend's check, and the details of the failed ones; closes `app`."""
    try:
        findings: list[dict[str, Any]] = app.backend("demo-1c").check()
    finally:
        app.close()
    return findings, [f["detail"] for f in findings if not f["ok"]]


def app_with(emulator_url: str, tmp_path: Path, mappings: Path | None = None) -> App:
    text = demo_config(emulator_url, tmp_path / "s.db") + "    timeout: {connect: 1, read: 2}\n"
    if mappings is not None:
        text += f'    mappings: "{mappings}"\n'
    return App.from_text(text)


def test_a_mapped_field_1c_lacks_and_an_unpublished_lookup_are_named_with_the_file(emulator: Emulator, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    ticket = mappings / "ticket.yaml"
    ticket.write_text(ticket.read_text(encoding="utf-8").replace("{from: Тема,", "{from: Темa,"), encoding="utf-8")  # Latin "a"
    emulator.unpublish("Catalog_СостоянияИнтересов")
    findings, failed = run_check(app_with(emulator.base_url, tmp_path, mappings))
    assert len(failed) == 1, failed
    assert failed[0].startswith("ticket: Document_Интерес has no field Темa")
    assert "crm-bridge onec inspect --entity Document_Интерес" in failed[0]
    assert str(ticket) in failed[0]
    assert "looks values up in Catalog_СостоянияИнтересов, which is not published" in failed[0]
    assert "standard OData interface content" in failed[0]
    assert sum(f["ok"] for f in findings) == 4  # reached and logged in; customer, contact, agent fine
    assert findings[0]["detail"].endswith("its dates read as Europe/Moscow wall time")  # the demo config sets it


def test_a_ref_to_a_model_the_backend_does_not_map_fails_the_check_with_file_and_line(emulator: Emulator,
                                                                                      tmp_path: Path) -> None:
    """1C publishes everything the ticket mapping reads, but its `ref: contact` and `ref:
    agent` could never be resolved: no mapping of those models beside it."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for model in ("customer", "ticket"):
        shutil.copy(DEFAULT_MAPPINGS / f"{model}.yaml", mappings)
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db")
                      + f'    mappings: "{mappings}"\n    models: [customer, ticket]\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "-c", str(config), "check", "--json"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 1, done.stderr
    failed = [c for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert [c["what"] for c in failed if c["what"] != "store"] == ["mappings of demo-1c"]  # 1C publishes it all
    [detail] = [c["detail"] for c in failed if c["what"] != "store"]
    assert detail.startswith(f"{mappings / 'ticket.yaml'}:")
    assert "fields.contact_id.ref: this backend maps no contact" in detail
    assert "fields.assignee_id.ref: this backend maps no agent" in detail
    emulator.stop()  # 1C cannot be reached: the files' own problems are said all the same
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "-c", str(config), "check", "--json"], capture_output=True,
                          text=True, check=False)
    failed = {c["what"]: c["detail"] for c in json.loads(done.stdout)["checks"] if not c["ok"]}
    assert "no answer" in failed["backend demo-1c"]
    assert "this backend maps no contact" in failed["mappings of demo-1c"]


def test_post_created_on_a_document_1c_does_not_post_is_named(tmp_path: Path) -> None:
    """1C binds Post/Unpost only to the document types that are posted; without them every
    created request would stay a draft, logged one by one. `check` says so up front."""
    edmx = default_edmx()
    unposted = re.sub(r'\s*<FunctionImport Name="(?:Post|Unpost)".*?</FunctionImport>', "", edmx, flags=re.S)
    assert unposted != edmx
    text = "    create_remote: [ticket]\n    post_created: [ticket]\n    timeout: {connect: 1, read: 2}\n"
    for metadata, failing in ((edmx, []), (unposted, ["ticket"])):
        with Emulator(requests=5, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}, edmx=metadata) as emu:
            _, failed = run_check(App.from_text(demo_config(emu.base_url, tmp_path / "s.db") + text))
        assert [f.split(":")[0] for f in failed] == failing
    assert failed[0] == ("ticket: Document_Интерес is in post_created, but 1C offers no Post for it: this document type "
                         "is not posted in this configuration (Проведение: Запретить); remove ticket from post_created")


def test_a_backend_that_does_not_answer_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/crm/odata/standard.odata/"
    app = app_with(url, tmp_path)
    try:
        with pytest.raises(OneCUnavailable, match=rf"GET \$metadata: no answer from 127.0.0.1:{port} \(connection refused"):
            app.backend("demo-1c").check()
    finally:
        app.close()
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(url, tmp_path / "s.db"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "-c", str(config), "check", "--json"], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, check=False)
    assert done.returncode == 1, done.stderr
    [backend] = [c for c in json.loads(done.stdout)["checks"] if c["what"] == "backend demo-1c"]
    assert backend["detail"].startswith(f"demo-1c: GET $metadata: no answer from 127.0.0.1:{port} (connection refused")
    assert "will retry" not in backend["detail"]  # check is run once: nothing retries it


def test_against_the_reference_metadata_check_says_which_attributes_to_add_for_the_write_back(tmp_path: Path) -> None:
    # The reference $metadata of 1C:CRM (a copy: tests/fixtures/onec/metadata.edmx): its «Интерес» has no SLA attributes.
    edmx = Path(__file__).parents[2] / "fixtures" / "onec" / "metadata.edmx"
    with Emulator(requests=10, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}, edmx=edmx) as emu:
        text = demo_config(emu.base_url, tmp_path / "s.db")
        assert "    timezone: Europe/Moscow\n" in text
        findings, failed = run_check(App.from_text(text.replace("    timezone: Europe/Moscow\n", "")))  # the zone: its default
    assert len(failed) == 1, failed
    assert findings[0]["detail"].endswith("(the default: set timezone: if the 1C server keeps another zone)")
    read, written = failed[0].split("; ")
    assert read.startswith("ticket: Document_Интерес has no field ВидОбращения, КаналОбращения, ИсточникОбращения, "
                           "ДатаПервогоОтвета — this configuration names it differently")
    assert written.startswith("has no attribute ИдентификаторВнешний (Строка), СрокПервогоОтвета (Дата, состав: дата и "
                              "время), СостояниеSLA (Строка), НарушениеSLA (Булево), which crm-bridge writes back — add them "
                              "to документ «Интерес» in a configuration extension")
    assert written.endswith(f"or drop them from the mapping {DEFAULT_MAPPINGS / 'ticket.yaml'}")


def test_a_mapping_too_wide_for_the_web_servers_query_limit_is_named(emulator: Emulator, tmp_path: Path) -> None:
    _, failed = run_check(App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    max_query_string: 1000\n"))
    assert len(failed) == 1, failed
    assert failed[0].startswith("ticket: Document_Интерес a page read with its 23 mapped fields makes a query string of ")
    assert "over max_query_string (1000): raise the web server's limit" in failed[0]


def test_a_published_set_the_user_may_not_read_is_named_with_the_rights_to_give(emulator: Emulator, tmp_path: Path) -> None:
    emulator.inject("status", entity_set="Catalog_Пользователи", method="GET", status=403, code="20",
                    message="Недостаточно прав для чтения данных")
    _, failed = run_check(app_with(emulator.base_url, tmp_path))
    assert len(failed) == 1, failed
    assert failed[0].startswith("agent: Catalog_Пользователи is published but cannot be read: ")
    assert "the 1C user may not do this (HTTP 403, 1C code 20: Недостаточно прав для чтения данных); give the OData " \
           "user a role with the right on the object" in failed[0]
