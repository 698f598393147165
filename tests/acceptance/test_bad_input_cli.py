"""Every mistake a person makes in the configuration or on the command line gets one line:
where (file:line:column when there is a file), what is wrong, what to do — exit code 2 and
no traceback. The command line runs through the same ``main`` as the installed command, from the folder
that holds the file (two cases through a real process), and what it prints on stderr is
compared with a golden file.

The golden files live in tests/fixtures/bad_input/; after an intended change of a message,
regenerate them with ``UPDATE_GOLDEN=1 pytest tests/acceptance/test_bad_input_cli.py`` and
read the diff before committing it.
"""

from __future__ import annotations

import difflib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pytest

from crm_bridge.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "bad_input"
STARTER = resources.files("crm_bridge").joinpath("data/crm-bridge.example.yaml").read_text(encoding="utf-8")


def starter(old: str, new: str) -> str:
    """The file `crm-bridge init` writes, with one mistake made in it."""
    assert old in STARTER, old
    return STARTER.replace(old, new, 1)


@dataclass
class Case:
    name: str
    text: str | None  # the content of crm-bridge.yaml; None: no file is written
    args: list[str]
    exit_code: int = 2
    env: dict[str, str] = field(default_factory=lambda: {"ONEC_PASSWORD": "s3cr3t"})


CASES = [
    Case("config_is_a_folder", None, ["-c", "conf", "check"]),
    Case("config_missing", None, ["-c", "nothing-here.yaml", "check"]),
    Case("config_empty", "", ["check"]),
    Case("config_only_comments", "# to do\n", ["run", "--once"]),
    Case("config_without_backends", "timezone: Europe/Moscow\nstore: {url: 'sqlite:///x.db'}\n", ["check"]),
    Case("run_without_backends", "timezone: Europe/Moscow\n", ["run", "--once"]),
    Case("unclosed_bracket", starter("models: [customer, contact, agent, ticket]",
                                     "models: [customer, contact, agent, ticket"), ["check"]),
    Case("unclosed_brace", starter("timeout: {connect: 5, read: 60, total: 300}",
                                   "timeout: {connect: 5, read: 60, total: 300"), ["check"]),
    Case("unclosed_quote", starter("timezone: Europe/Moscow\n", 'timezone: "Europe/Moscow\n'), ["check"]),
    Case("tab_indent", starter("\n  url: sqlite:///crm-bridge.db", "\n\turl: sqlite:///crm-bridge.db"), ["check"]),
    Case("colon_in_value", starter("username: Администратор", "username: Иванов: админ"), ["check"]),
    Case("duration_in_words", starter("first_response: 30m", "first_response: 30 minutes"), ["check"]),
    Case("schedule_out_of_bounds", starter("pull_every: 60 ", "pull_every: 9999999"), ["check"]),
    Case("schedule_not_a_number", starter("pull_every: 60 ", "pull_every: often"), ["check"]),
    Case("on_delete_misspelt", starter("    timezone: Europe/Moscow              #",
                                       "    on_delete: marc\n    timezone: Europe/Moscow              #"), ["check"]),
    Case("log_level_unknown", None, ["--log-level", "verbose", "check"]),
    Case("log_level_misspelt", None, ["--log-level", "warnng", "check"]),
    Case("log_format_unknown", None, ["--log-format", "xml", "check"]),
    Case("password_unset", STARTER, ["check"], env={}),
    Case("password_dollar_without_braces", starter("${ONEC_PASSWORD}", "$ONEC_PASSWORD"),
         ["mapping", "check", "--offline"], exit_code=0),
    Case("url_brace_unclosed", starter("url: http://127.0.0.1:8080/crm/odata/standard.odata/", "url: ${ONEC_URL"),
         ["check"]),
    Case("username_dollar_without_braces", starter("username: Администратор", "username: $ONEC_USER"),
         ["mapping", "check", "--offline"], exit_code=0),
]


@pytest.fixture
def crm_bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Case, Path], tuple[int, str, str]]]:
    """Runs the ``crm-bridge`` command line in this process, through the same ``main`` the
    installed command runs (a process each would cost 2 s of CPU apiece): its exit code,
    stdout and stderr. The logging it sets up is undone afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def call(case: Case, workdir: Path) -> tuple[int, str, str]:
        for name in ("ONEC_PASSWORD", "ONEC_USER", "ONEC_URL", "CRM_BRIDGE_CONFIG"):
            monkeypatch.delenv(name, raising=False)
        for name, value in case.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(workdir)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as ended:
            main(case.args)
        code = ended.value.code
        return (code if isinstance(code, int) else 0 if code is None else 1), out.getvalue(), err.getvalue()

    yield call
    root.handlers[:] = handlers
    root.setLevel(level)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    diff = "".join(difflib.unified_diff(path.read_text(encoding="utf-8").splitlines(keepends=True),
                                        text.splitlines(keepends=True), "golden", "now"))
    assert not diff, f"the message differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n{diff}"


def prepare(case: Case, workdir: Path) -> None:
    (workdir / "conf").mkdir()
    if case.text is not None:
        (workdir / "crm-bridge.yaml").write_text(case.text, encoding="utf-8")


def check_answer(case: Case, code: int, out: str, err: str) -> None:
    assert code == case.exit_code, out + err
    assert "Traceback" not in err
    assert "Input should" not in err
    assert "pydantic" not in err
    assert "s3cr3t" not in out + err
    lines = err.splitlines()
    warnings = [line for line in lines if line.startswith("warning: ")]
    if case.exit_code == 2:
        assert len(lines) - len(warnings) == 1, err  # one mistake, one line (after what led to it)
    else:
        assert lines, "a warning was expected"
        assert lines == warnings, err
    assert_golden(case.name, err)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_mistake_is_one_line_with_its_place_and_fix(
        case: Case, tmp_path: Path, crm_bridge: Callable[[Case, Path], tuple[int, str, str]]) -> None:
    prepare(case, tmp_path)
    check_answer(case, *crm_bridge(case, tmp_path))


@pytest.mark.parametrize("name", ["config_is_a_folder", "log_level_unknown"])
def test_the_installed_command_answers_in_one_line_too(name: str, tmp_path: Path) -> None:
    """The two mistakes that once ended in a traceback, through a real process (its own
    terminal width, the real exit path)."""
    [case] = [c for c in CASES if c.name == name]
    prepare(case, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("ONEC_PASSWORD", "CRM_BRIDGE_CONFIG")}
    env.update({"COLUMNS": "60", "HOME": str(tmp_path), **case.env})  # narrow: a long line must not wrap
    done = subprocess.run([sys.executable, "-m", "crm_bridge", *case.args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    check_answer(case, done.returncode, done.stdout, done.stderr)
