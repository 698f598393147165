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
HEAVY = ("sqlalchemy", "alembic", "zeep", "jinja2", "babel", "procrastinate", "fastapi", "uvicorn", "argon2", "requests", "icalendar",
         "pydantic", "crm_bridge.app", "sync.engine", "sla.engine", "routing.engine", "notify.dispatch", "sla.cli")


#: What `crm-bridge <group> … --help` may import beyond the top-level help: the group's own
#: command module (``sla.cli`` for ``sla``), never an engine, the store or pydantic.
ENGINES = tuple(m for m in HEAVY if m != "sla.cli")

#: Run in a fresh interpreter: `--help` of every registered addon group and command, then of
#: every command under each group (sub-groups too), one after another; after each, the
#: ENGINES loaded so far. Typer builds a group's click commands without importing anything.
_EVERY_HELP = """
import json, sys
import typer
from crm_bridge.cli import build, main
from crm_bridge.cli.common import state

def run(argv):
    sys.argv = ['crm-bridge', *argv, '--help']
    try:
        main()
    except SystemExit:
        pass
    seen.append([argv, sorted(m for m in ENGINES if m in sys.modules)])

def walk(command, path):
    for name, sub in sorted(getattr(command, 'commands', {}).items()):
        run([*path, name])
        walk(sub, [*path, name])

seen = []
build()
for comp in state.registry.all('cli.group') + state.registry.all('cli.command'):
    run([comp.name])
    if comp.usage == 'cli.group':
        walk(typer.main.get_group(comp.obj), [comp.name])
print(json.dumps(seen))
"""


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


def test_every_addon_groups_help_and_its_commands_help_import_no_engine() -> None:
    """`crm-bridge sla --help`, `crm-bridge sla explain --help`…: the help of an addon's
    group or command is built from its module alone, each heavy import inside the command
    that needs it; the root options are coerced without pydantic (crm_bridge.cli.lazy)."""
    code = f"ENGINES = {ENGINES!r}\n{_EVERY_HELP}"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=300, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    seen: list[tuple[list[str], list[str]]] = json.loads(done.stdout.strip().splitlines()[-1])
    helped = {" ".join(argv) for argv, _ in seen}
    for expected in ("sla", "sla explain", "sla calendar show", "routing agent set-status", "notify preview", "onec inspect",
                     "mapping suggest", "quarantine list", "jobs list", "conflicts resolve", "shadow report", "sync", "demo"):
        assert expected in helped, expected
    first_heavy = next(((argv, loaded) for argv, loaded in seen if loaded), None)
    assert first_heavy is None, f"crm-bridge {' '.join(first_heavy[0])} --help imported {first_heavy[1]}"
