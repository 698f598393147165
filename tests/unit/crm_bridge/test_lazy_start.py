"""Light commands load no engine: `crm-bridge --help` lists every addon's commands from
their registrations, and an addon's commands are built when one of them is run.
Checked in a fresh interpreter (pytest's own has imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crm_bridge.registry import Lazy, Registry

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("sqlalchemy", "alembic", "zeep", "jinja2", "babel", "procrastinate", "fastapi", "requests", "icalendar",
         "pydantic", "crm_bridge.app", "sync.engine", "sla.engine", "routing.engine", "notify.dispatch", "sla.cli")


def _run(*argv: str) -> tuple[str, list[str]]:
    code = ("import json, sys\n"
            "from crm_bridge.cli import main\n"
            f"sys.argv = ['crm-bridge', *{list(argv)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    *shown, loaded = done.stdout.strip().splitlines()
    return "\n".join(shown), json.loads(loaded)


def test_help_lists_the_addons_commands_without_importing_any_engine() -> None:
    shown, loaded = _run("--help")
    assert loaded == []
    for command in ("sla", "mapping", "routing", "notify", "onec", "status", "demo", "quarantine"):
        assert f"│ {command} " in shown, command
    assert "SLA policies, due dates and the ledger." in shown


def test_an_addons_command_is_built_when_run_and_only_its_own() -> None:
    shown, loaded = _run("sla", "--help")
    assert "explain" in shown
    assert "sla.cli" in loaded
    assert "routing.engine" not in loaded


def test_a_lazy_component_is_imported_on_first_use_and_named_after_its_target() -> None:
    registry = Registry()
    registry.add(Lazy("json:dumps"), usage="x")
    found = registry.component("x")
    assert found.name == "dumps"
    assert found.obj is json.dumps
