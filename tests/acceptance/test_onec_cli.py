"""`onec inspect` and `check` tell an integrator what the 1C side publishes and lacks."""

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


@pytest.fixture
def config(emulator: Emulator, tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(demo_config(emulator.base_url, tmp_path / "s.db"), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, "-c", str(config), *args], capture_output=True, text=True, env=env, check=False)


def test_inspect_lists_sets_with_their_references(config: Path) -> None:
    done = cli(config, "onec", "inspect", "--json")
    assert done.returncode == 0, done.stderr
    sets = {r["entity_set"]: r for r in json.loads(done.stdout)}
    request = sets["Document_Интерес"]
    assert request["kind"] == "Document"
    assert request["references"]["Партнер_Key"] == "Catalog_Партнеры"
    assert request["tabular_sections"] == ["Соисполнители"]


def test_inspect_lists_enumerations_with_their_values(config: Path) -> None:
    done = cli(config, "onec", "inspect", "--json")
    rows = json.loads(done.stdout)
    enums = {r["enum"]: r["values"] for r in rows if r["kind"] == "Enum"}
    assert enums["ВидыОбращений"] == ["ТехническаяПроблема", "Консультация", "БлагодарностьЖалоба", "СрочныйЗапрос"]
    assert all(r["entity_set"] is None for r in rows if r["kind"] == "Enum")
    table = " ".join(cli(config, "onec", "inspect").stdout.split())
    assert "Enumerations" in table
    assert "ВидыОбращений │ ТехническаяПроблема, Консультация, БлагодарностьЖалоба, СрочныйЗапрос" in table
    one = cli(config, "onec", "inspect", "--entity", "ЮрФизЛицо", "--json")
    assert json.loads(one.stdout) == {"enum": "ЮрФизЛицо", "values": ["ЮрЛицо", "ФизЛицо", "ИндивидуальныйПредприниматель",
                                                                      "ЮрЛицоНеРезидент"]}


def test_inspect_of_one_set_shows_types_keys_and_rows(config: Path) -> None:
    done = cli(config, "onec", "inspect", "--entity", "Document_Интерес", "--json")
    fields = {f["field"]: f for f in json.loads(done.stdout)["fields"]}
    assert fields["Ref_Key"]["key"] is True
    assert fields["СрокИсполнения"]["type"] == "Edm.DateTime"
    assert fields["Ответственный_Key"]["reference_to"] == "Catalog_Пользователи"
    assert "Пользователь_Key" in fields["Соисполнители"]["row_fields"]
    assert (fields["Основание"]["composite"], fields["Партнер_Key"]["composite"]) == (True, False)  # see Основание_Type
    table = cli(config, "onec", "inspect", "--entity", "Document_Интерес").stdout
    assert "one of several kinds: see Основание_Type" in " ".join(table.split())


def test_inspect_of_a_misspelt_set_suggests_the_right_one(config: Path) -> None:
    done = cli(config, "onec", "inspect", "--entity", "Document_Интерс")
    assert done.returncode == 1
    assert "Did you mean 'Document_Интерес'?" in " ".join(done.stderr.split())


def test_check_names_what_to_publish_in_1c(emulator: Emulator, config: Path) -> None:
    cli(config, "db", "upgrade")
    assert cli(config, "check").returncode == 0
    emulator.unpublish("Catalog_КонтактныеЛицаПартнеров")
    done = cli(config, "check", "--json")
    assert done.returncode == 1
    failed = [c["detail"] for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert len(failed) == 1
    assert "Catalog_КонтактныеЛицаПартнеров is not published" in failed[0]
    assert "Настройка стандартного интерфейса OData" in failed[0]


def test_check_with_a_wrong_password_says_so(emulator: Emulator, config: Path) -> None:
    config.write_text(config.read_text(encoding="utf-8").replace(f"password: {DEMO_PASSWORD}", "password: Sekr3t-XYZ"), encoding="utf-8")
    done = cli(config, "check", "--json")
    assert done.returncode == 1
    details = " ".join(c["detail"] for c in json.loads(done.stdout)["checks"])
    assert "refused the login" in details
    assert "Sekr3t-XYZ" not in details


def test_a_command_before_db_upgrade_says_what_to_run(config: Path) -> None:
    for args in (("status",), ("conflicts", "list")):
        done = cli(config, *args)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert "the store has no schema yet; run crm-bridge db upgrade" in " ".join(done.stderr.split())


def test_check_json_with_a_broken_configuration_is_still_json(tmp_path: Path) -> None:
    broken = tmp_path / "crm-bridge.yaml"
    broken.write_text("store: [\n", encoding="utf-8")
    done = cli(broken, "check", "--json")
    assert done.returncode == 2
    [finding] = json.loads(done.stdout)["checks"]
    assert (finding["what"], finding["ok"]) == ("configuration", False)
    assert finding["detail"] == f"{broken}:1:8: the list opened here with '[' is not closed; add ']' (or a ',' between its items)"


def test_one_cycle_against_a_1c_that_does_not_answer_fails_in_one_line(tmp_path: Path) -> None:
    """`run --once` in a cron job: a failed import is exit 1 and a readable reason, not a traceback."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(f"http://127.0.0.1:{port}/crm/odata/standard.odata/", tmp_path / "s.db"), encoding="utf-8")
    done = cli(config, "run", "--once")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    said = " ".join(done.stdout.split())
    assert f"no answer from 127.0.0.1:{port} (connection refused" in said
    assert "sync.pull" in said
    assert json.loads(cli(config, "run", "--once", "--json").stdout)["sync.pull"]["demo-1c"]["error"]
