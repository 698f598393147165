"""An integrator's loop against the 1C emulator, as real processes: from an empty folder,
`mapping suggest` → edit → `mapping check` → `mapping preview`; every mistake is caught
with its line; preview writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator

MODELS = ["customer", "contact", "agent", "ticket"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def workdir(tmp_path: Path, emulator: Emulator) -> Path:
    config = demo_config(emulator.base_url, tmp_path / "store.db") + "    mappings: mappings\n"
    (tmp_path / "crm-bridge.yaml").write_text(config.replace("mappings: mappings", f"mappings: {tmp_path / 'mappings'}"), encoding="utf-8")
    return tmp_path


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "HOME": str(workdir)}
    return subprocess.run([sys.executable, "-m", "crm_bridge", "-c", "crm-bridge.yaml", "mapping", *args],
                          cwd=workdir, capture_output=True, text=True, env=env, timeout=120, check=False)


def versions(emulator: Emulator) -> dict[str, str]:
    return {d["Ref_Key"]: d["DataVersion"] for s in ("Document_Интерес", "Catalog_Партнеры") for d in emulator.records(s)}


def test_suggest_then_edit_then_check_passes_for_every_model(workdir: Path) -> None:
    for model in MODELS:
        made = run(workdir, "suggest", "--backend", "demo-1c", "--model", model, "--out", f"mappings/{model}.yaml")
        assert made.returncode == 0, made.stderr
    customer = workdir / "mappings" / "customer.yaml"
    text = customer.read_text(encoding="utf-8")
    assert "# 0.9" in text  # every line says how sure it is
    assert "name: {from: Description, transform: [strip]}" in text
    # the edit: the integrator adds the legal form as the segment
    customer.write_text(text.replace("  # segment: {from: ...}  # no candidate found", "  segment: {from: ЮрФизЛицо}"), encoding="utf-8")
    checked = run(workdir, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all 4 mapping files OK" in checked.stdout
    as_json = json.loads(run(workdir, "check", "--json").stdout)
    assert as_json["ok"] is True
    assert [Path(f["file"]).name for f in as_json["files"]] == ["agent.yaml", "contact.yaml", "customer.yaml", "ticket.yaml"]


def test_a_broken_mapping_exits_1_naming_the_line_of_every_mistake(workdir: Path) -> None:
    broken = workdir / "broken" / "ticket.yaml"
    broken.parent.mkdir()
    broken.write_text("""model: ticket
entity: Document_Интерес
fields:
  number: {from: Numbr, transform: [strip]}
  subjct: {from: Тема}
  created_at: {from: Date, tranform: [strip]}
  type: {from: ВидОбращения, map: {Консультация: consultaton}, default: other}
  priority: {from: Важность, transform: [strp]}
  sla_breached: {from: НарушениеSLA, owner: locl}
  channel: {from: НарушениеSLA}
""", encoding="utf-8")
    checked = run(workdir, "check", "--file", "broken/ticket.yaml", "--backend", "demo-1c")
    assert checked.returncode == 1
    out = " ".join(checked.stdout.split())
    for expected in (
        "broken/ticket.yaml:4:12: fields.number.from: Document_Интерес has no field 'Numbr'. Did you mean 'Number'?",
        "broken/ticket.yaml:5:3: fields.subjct: ticket has no field 'subjct'. Did you mean 'subject'?",
        "broken/ticket.yaml:6:28: fields.created_at.tranform: unknown key. Did you mean 'transform'?",
        "broken/ticket.yaml:7:36: fields.type.map.Консультация: 'consultaton' is not a ticket.type value. Did you mean 'consultation'?",
        "broken/ticket.yaml:8:42: fields.priority.transform.0: unknown transform 'strp'. Did you mean 'strip'?",
        "broken/ticket.yaml:9:38: fields.sla_breached.owner: unknown owner 'locl'. Did you mean 'local'?",
        "broken/ticket.yaml:10:3: fields.channel: type mismatch: НарушениеSLA (Edm.Boolean) gives yes/no",
        "7 problems in 1 file",
    ):
        assert expected in out, out
    offline = run(workdir, "check", "--file", "broken/ticket.yaml")  # no backend: schema checks only
    assert offline.returncode == 1
    assert "Numbr" not in offline.stdout
    assert "5 problems" in " ".join(offline.stdout.split())


def test_preview_shows_source_next_to_canonical_and_writes_nothing(workdir: Path, emulator: Emulator) -> None:
    assert run(workdir, "suggest", "-b", "demo-1c", "-m", "ticket", "--out", "mappings/ticket.yaml").returncode == 0
    before = versions(emulator)
    stats = requests.get(emulator.base_url.split("/crm/")[0] + "/__emulator__/stats", timeout=10).json()["requests"]
    shown = run(workdir, "preview", "--backend", "demo-1c", "--model", "ticket", "--limit", "3")
    assert shown.returncode == 0, shown.stderr
    assert "Тема" in shown.stdout
    assert "→" in shown.stdout
    assert "3 records of Document_Интерес previewed" in shown.stdout
    data = json.loads(run(workdir, "preview", "-b", "demo-1c", "-m", "ticket", "--limit", "20", "--json").stdout)
    records = data["records"]
    assert len(records) == 20
    first = records[0]
    assert first["canonical"]["number"] == first["source"]["Number"].strip()
    assert first["canonical"]["customer_id"].startswith("→customer ")
    assert set(first["write_back"]) == {"СрокИсполнения", "СрокПервогоОтвета", "СостояниеSLA", "НарушениеSLA"}
    assert versions(emulator) == before
    after = requests.get(emulator.base_url.split("/crm/")[0] + "/__emulator__/stats", timeout=10).json()["requests"]
    assert {k: v for k, v in after.items() if k != "GET"} == {k: v for k, v in stats.items() if k != "GET"}


def test_every_mapping_command_has_help_with_an_example(workdir: Path) -> None:
    for command in ("check", "preview", "suggest"):
        shown = run(workdir, command, "--help")
        assert shown.returncode == 0
        assert "Example: crm-bridge mapping" in shown.stdout
        assert "--json" in shown.stdout


def test_a_mapping_file_that_is_not_even_yaml_is_reported_alone_and_the_others_are_checked(workdir: Path) -> None:
    for model in MODELS:
        made = run(workdir, "suggest", "--backend", "demo-1c", "--model", model, "--out", f"mappings/{model}.yaml")
        assert made.returncode == 0, made.stderr
    contact = workdir / "mappings" / "contact.yaml"
    contact.write_text(contact.read_text(encoding="utf-8") + "loop: &r [*r]\n", encoding="utf-8")
    lines = contact.read_text(encoding="utf-8").count("\n")
    checked = run(workdir, "check", "--json")
    assert checked.returncode == 1, checked.stderr
    found = {Path(f["file"]).name: f["problems"] for f in json.loads(checked.stdout)["files"]}
    assert set(found) == {"agent.yaml", "contact.yaml", "customer.yaml", "ticket.yaml"}  # every file checked
    assert found["contact.yaml"] == [f"{contact}:{lines}:11: alias *r is inside the value &r names, so it would repeat "
                                     "without end; write the value out instead"]
    assert found["agent.yaml"] == found["customer.yaml"] == []
    # the requests' reference to contacts cannot be checked without a contact mapping: said, nothing else
    assert [p.split(": ", 2)[1] for p in found["ticket.yaml"]] == ["fields.contact_id.ref"]
