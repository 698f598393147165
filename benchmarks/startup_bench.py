"""Benchmark of start-up: the CPU seconds of ``crm-bridge --help`` and other light commands.

    python benchmarks/startup_bench.py [--repeat 5]

Each command runs in a fresh interpreter (``python -m crm_bridge …``), and its CPU time
(user + system) is read from ``resource.getrusage(RUSAGE_CHILDREN)``, so a busy machine
does not decide the figure the way wall time would; the best of ``repeat`` runs counts.

The alternative it is compared with is what start-up cost before the addons' engines were
registered by name (``crm_bridge.registry.Lazy``): importing every engine eagerly —
SQLAlchemy and the store, the sync, SLA, routing and notify engines, the 1C adapter and
zeep, Jinja2 and Babel — before printing the same help. The ratio says how much
lighter the lazy start is. The target is every ``--help`` line under 0.5 s of CPU — the
top level and an addon's group or command, whose module imports its engine only inside
the command that runs (issue #22); the exit status is 1 when one misses it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.5  # CPU seconds for each `crm-bridge … --help`

#: What every command imported before: the engines each addon registered directly.
EAGER = ("import crm_bridge.app, crm_bridge.history, sync.engine, sync.reconcile, sync.cli, sync.quarantine_cli, "
         "sla.engine, sla.coverage, sla.cli, sla.importers, routing.engine, routing.cli, notify.dispatch, notify.cli, "
         "notify.compose, mapping.cli, adapters.onec.adapter, adapters.onec.cli, adapters.onec.soap, zeep; "
         "import sys; from crm_bridge.cli import main; sys.argv = ['crm-bridge', '--help']; main()")


def cpu_of(argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + system) one child process took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(argv: list[str], env: dict[str, str], repeat: int) -> float:
    return min(cpu_of(argv, env) for _ in range(repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached
    python = [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        starter = str(Path(tmp) / "crm-bridge.yaml")
        commands = {
            "crm-bridge --help": [*python, "-m", "crm_bridge", "--help"],
            "crm-bridge init": [*python, "-m", "crm_bridge", "init", starter, "--force"],
            "crm-bridge addons": [*python, "-m", "crm_bridge", "addons"],
            "crm-bridge run --help": [*python, "-m", "crm_bridge", "run", "--help"],
            "crm-bridge sla --help": [*python, "-m", "crm_bridge", "sla", "--help"],
            "crm-bridge routing --help": [*python, "-m", "crm_bridge", "routing", "--help"],
            "crm-bridge sla explain --help": [*python, "-m", "crm_bridge", "sla", "explain", "--help"],
        }
        best(commands["crm-bridge --help"], env, 1)  # warm: compiled modules cached
        interpreter = best([*python, "-c", "pass"], env, args.repeat)
        results = {name: best(argv, env, args.repeat) for name, argv in commands.items()}
        eager = best([*python, "-c", EAGER], env, args.repeat)
    print(f"{'python -c pass':<30} {interpreter:6.2f} s CPU  (the interpreter alone)")
    for name, seconds in results.items():
        print(f"{name:<30} {seconds:6.2f} s CPU")
    helped = results["crm-bridge --help"]
    print(f"{'eager imports + --help':<30} {eager:6.2f} s CPU  (every engine imported first, as before)")
    print(f"lazy start is {eager / helped:.1f}x lighter; target: each --help under {TARGET} s of CPU")
    missed = [name for name, seconds in results.items() if name.endswith("--help") and seconds >= TARGET]
    if missed:
        print(f"missed the target: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
