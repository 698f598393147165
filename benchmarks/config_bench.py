"""Benchmark of loading a large configuration: N SLA policies in one crm-bridge.yaml.

    python benchmarks/config_bench.py [--policies 10000] [--repeat 3]

Each policy has a ``match`` with a list and a ``when`` expression, a per-priority target
and an escalation; the calendars use the ``&day``/``*day`` anchors of the shipped
examples. Measured, best of ``repeat`` runs, in the same process:

* ``load_config``: what ``crm-bridge`` does at start-up — bounded YAML reading with a
  position for every value, then validation of every section (policies' ``when`` parsed
  and checked, calendars built);
* the parts: ``parse_yaml`` alone, and validation of the parsed data alone;
* the baseline a user would otherwise write: ``yaml.load`` with libyaml's ``CSafeLoader``
  (no positions, no bounds) plus the same pydantic validation.

The target is 10,000 policies in under 2 s of CPU time for ``load_config`` (CPU time, so a
busy machine does not decide it; wall time is printed beside it); the exit status is 1
when it is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from crm_bridge.app import load_registry
from crm_bridge.config import build_config_model, load_config
from crm_bridge.yamlfile import parse_yaml
from sla import policy

TARGET_SECONDS = 2.0  # for 10,000 policies


def policies_yaml(count: int) -> str:
    lines = ["sla:", "  calendars:", "    office:", "      timezone: Europe/Moscow",
             '      week: {mon: &day ["09:00-13:00", "14:00-18:00"], tue: *day, wed: *day, thu: *day, fri: *day}',
             "      include: [ru-production]",
             "  policies:"]
    for i in range(count):
        lines += [f"    - name: policy {i}",
                  f"      match: {{type: [urgent], when: \"priority in ('high', 'urgent') and channel == 'email{i}'\"}}",
                  "      calendar: office",
                  "      targets: {first_response: 1h, resolution: {urgent: 4h, high: 8h}}",
                  "      escalations: [{after: 2h, action: reassign, team: L2}]"]
    return "\n".join(lines) + "\n"


def best(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """The best CPU time of `repeat` runs (what the work costs, even on a busy machine)
    and the best wall-clock time."""
    cpu, wall = [], []
    for _ in range(repeat):
        policy._compile.cache_clear()  # as in a fresh process: every `when` parsed once more
        policy._seconds.cache_clear()
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return min(cpu), min(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    registry, _ = load_registry()
    model = build_config_model(registry)
    text = policies_yaml(args.policies)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crm-bridge.yaml"
        path.write_text(text, encoding="utf-8")
        data = yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - the safe C loader
        figures = {
            "load_config (ours)": best(lambda: load_config(path, registry), args.repeat),
            "  parse_yaml": best(lambda: parse_yaml(text, str(path)), args.repeat),
            "  validation": best(lambda: model.model_validate(data), args.repeat),
            "baseline: yaml CSafeLoader + pydantic": best(
                lambda: model.model_validate(yaml.load(text, Loader=yaml.CSafeLoader)), args.repeat),  # noqa: S506
        }
    print(f"{args.policies:,} policies, {len(text.encode()) / 1e6:.1f} MB, best of {args.repeat}:  CPU s   wall s")
    for name, (cpu, wall) in figures.items():
        print(f"  {name:<40} {cpu:6.2f}  {wall:6.2f}")
    limit = TARGET_SECONDS * args.policies / 10_000
    ok = figures["load_config (ours)"][0] < limit
    print(f"target: under {limit:.2f} s — {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
