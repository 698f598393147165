"""The README's "Mapping your 1C:CRM, step by step" runs as written, against the 1C emulator.

The commands are read from README.md itself (the bash block under that heading), so the
README cannot drift from what works: each runs in order through the same ``main`` as the
installed command, from a fresh folder, and must succeed. The one step a person does by
hand — editing crm-bridge.yaml after `init` as the comment on that line says — is done here
the same way: the url and, uncommented, `mappings: ./mappings/crm`.
"""

from __future__ import annotations

import io
import logging
import re
import shlex
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator
from crm_bridge.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Mapping your 1C:CRM, step by step"
DOC = "Document_Интерес"


def walkthrough() -> list[str]:
    """The command lines of the README's walk-through, comments and continuation lines left out."""
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md has no section {HEADING!r}"
    block = re.search(r"```bash\n(.*?)```", text[text.index(HEADING):], re.S)
    assert block is not None
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def crm_bridge(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as ended:
        main(args)
    code = ended.value.code
    return (code if isinstance(code, int) else 0), out.getvalue(), err.getvalue()


def test_the_readme_walkthrough_works_as_written(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 restore_logging: None) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRM_BRIDGE_CONFIG", raising=False)
    steps = walkthrough()
    assert [s.split()[1] for s in steps if s.startswith("crm-bridge")] == [
        "init", "onec", "mapping", "mapping", "mapping", "db", "check", "run", "shadow", "run"]
    said: dict[str, str] = {}
    for step in steps:
        if step.startswith("export "):
            name = step.removeprefix("export ").split("=", 1)[0]
            assert name == "ONEC_PASSWORD"
            monkeypatch.setenv(name, DEMO_PASSWORD)
            continue
        argv = shlex.split(step)
        assert argv[0] == "crm-bridge", step
        code, out, err = crm_bridge(argv[1:])
        assert code == 0, f"$ {step}\n{out}{err}"
        said[" ".join(argv[1:3])] = out + err
        if argv[1] == "shadow":  # what the comment on that line asks the reader to do once the report looks right
            config = tmp_path / "crm-bridge.yaml"
            assert all(d["СрокИсполнения"] == "0001-01-01T00:00:00" for d in emulator.records(DOC)), \
                "shadow mode wrote into 1C"
            assert "would be made" in out
            text = config.read_text(encoding="utf-8")
            assert "write_back: shadow" in text
            config.write_text(text.replace("write_back: shadow", "write_back: live"), encoding="utf-8")
        if argv[1] == "init":  # what the comment on that line asks the reader to edit
            config = tmp_path / "crm-bridge.yaml"
            text = config.read_text(encoding="utf-8")
            assert "# mappings: ./mappings/crm" in text
            text = text.replace("http://127.0.0.1:8080/", f"http://127.0.0.1:{emulator.port}/")
            text = text.replace("# mappings: ./mappings/crm", "mappings: ./mappings/crm")
            config.write_text(text, encoding="utf-8")

    assert sorted(p.name for p in (tmp_path / "mappings" / "crm").glob("*.yaml")) == [
        "agent.yaml", "contact.yaml", "customer.yaml", "ticket.yaml"]
    assert "all 4 mapping files OK" in said["mapping check"]
    assert "nothing was written" in said["mapping preview"]
    assert "Traceback" not in "".join(said.values())
    docs = [d for d in emulator.records(DOC) if not d["DeletionMark"]]
    planned = [d for d in docs if d["СрокИсполнения"] != "0001-01-01T00:00:00"]
    assert len(planned) > len(docs) / 2, "run --once wrote no due dates back into 1C"


def test_suggesting_one_model_names_the_others_the_backend_needs(emulator: Emulator, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 restore_logging: None) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEC_PASSWORD", DEMO_PASSWORD)
    assert crm_bridge(["init"])[0] == 0
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("http://127.0.0.1:8080/", f"http://127.0.0.1:{emulator.port}/"),
                      encoding="utf-8")
    code, _, err = crm_bridge(["mapping", "suggest", "--backend", "crm", "--model", "ticket", "--out", "mappings/crm/ticket.yaml"])
    assert code == 0
    assert " ".join(err.split()) == (
        "backend crm also needs customer.yaml, contact.yaml, agent.yaml (its models: list); suggest them too: "
        "crm-bridge mapping suggest --backend crm --all --out mappings/crm")
    code, _, err = crm_bridge(["mapping", "suggest", "--backend", "crm", "--all", "--out", "mappings/crm"])
    assert code == 2  # ticket.yaml is there: nothing is overwritten without --force
    assert "mappings/crm/ticket.yaml exists; pass --force" in err
    assert not (tmp_path / "mappings" / "crm" / "customer.yaml").exists()


def test_preview_and_run_say_a_field_1c_does_not_publish_as_check_does(emulator: Emulator, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      restore_logging: None) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEC_PASSWORD", DEMO_PASSWORD)
    assert crm_bridge(["init"])[0] == 0
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("http://127.0.0.1:8080/", f"http://127.0.0.1:{emulator.port}/")
                      .replace("# mappings: ./mappings/crm", "mappings: ./mappings/crm"), encoding="utf-8")
    assert crm_bridge(["mapping", "suggest", "--backend", "crm", "--all", "--out", "mappings/crm", "--sample", "0"])[0] == 0
    ticket = tmp_path / "mappings" / "crm" / "ticket.yaml"
    text = ticket.read_text(encoding="utf-8")
    assert "{from: Тема," in text
    ticket.write_text(text.replace("{from: Тема,", "{from: Темаа,"), encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "{from: Тема," in t)
    code, out, err = crm_bridge(["mapping", "preview", "--backend", "crm", "--model", "ticket", "--limit", "1"])
    assert code == 2
    [said] = err.splitlines()
    assert said.startswith(f"configuration error: mappings/crm/ticket.yaml:{line}:")
    assert "fields.subject.from: Document_Интерес has no field 'Темаа'. Did you mean 'Тема'?" in said
    assert "HTTP 400" not in said

    assert crm_bridge(["db", "upgrade"])[0] == 0  # the import says it the same way
    code, out, err = crm_bridge(["run", "--once"])
    told = " ".join((out + err).split())
    assert f"mappings/crm/ticket.yaml:{line}:" in told
    assert "Document_Интерес has no field 'Темаа'. Did you mean 'Тема'?" in told
    assert "HTTP 400" not in told
