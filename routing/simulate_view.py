"""The ``routing simulate`` report: one dictionary for ``--json`` and lines of at most 80
columns for people (names are cut to fit, never wrapped)."""

from __future__ import annotations

from datetime import date
from typing import Any

from routing.simulate import Compliance, Simulation

__all__ = ["render_simulation", "simulation_report"]

_WIDTH = 80
_NAME = 34


def _share(c: Compliance) -> dict[str, Any]:
    return {"met": c.met, "total": c.total, "share": round(c.share, 3) if c.share is not None else None}


def simulation_report(result: Simulation, count: int, first: date, last: date, rules: str | None) -> dict[str, Any]:
    """What the replay found, for ``--json`` and for `render_simulation`."""
    outcomes = [r.outcome for r in result.requests]
    return {
        "window": {"from": first.isoformat(), "to": last.isoformat()}, "replayed": count,
        "rules": rules or "configured",
        "agents": [{"agent": result.names.get(k, k), "key": k, "simulated": result.simulated.get(k, 0),
                    "actual": result.actual.get(k, 0), "peak_load": result.peak.get(k, 0.0)} for k in result.agents],
        "unassigned": {"manual": outcomes.count("manual"), "no_rule": outcomes.count("no rule"),
                       "waiting": outcomes.count("waiting")},
        "waits_minutes": result.waits(),
        "sla": {metric: {"predicted": _share(result.compliance(metric, actual=False)),
                         "actual": _share(result.compliance(metric, actual=True))}
                for metric in ("first_response", "resolution")},
    }


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _pct(value: dict[str, Any]) -> str:
    if value["share"] is None:
        return "—"
    return f"{value['share'] * 100:.0f}% ({value['met']}/{value['total']})"


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g} min" if value < 120 else f"{value / 60:.1f} h"


def render_simulation(report: dict[str, Any]) -> list[str]:
    """The report as lines for a terminal 80 columns wide."""
    window = report["window"]
    lines = [_cut(f"Replayed {report['replayed']} requests created {window['from']} to {window['to']} "
                  f"under {'the current rules' if report['rules'] == 'configured' else report['rules']}", _WIDTH),
             f"{'agent':<{_NAME}} {'simulated':>10} {'actual':>8} {'peak load':>10}"]
    lines += [f"{_cut(a['agent'], _NAME):<{_NAME}} {a['simulated']:>10} {a['actual']:>8} {a['peak_load']:>10g}"
              for a in report["agents"]]
    gone = report["unassigned"]
    if any(gone.values()):
        lines.append(f"not assigned: {gone['manual']} manual, {gone['no_rule']} no rule matched, "
                     f"{gone['waiting']} still waiting at the end")
    waits = report["waits_minutes"]
    lines.append(f"queue wait: mean {_minutes(waits['mean'])}, 90% within {_minutes(waits['p90'])}, "
                 f"max {_minutes(waits['max'])} ({waits['assigned']} assigned)")
    lines.append(f"{'SLA met':<{_NAME}} {'predicted':>20} {'actual':>20}")
    for metric, label in (("first_response", "first response"), ("resolution", "resolution")):
        both = report["sla"][metric]
        lines.append(f"{label:<{_NAME}} {_pct(both['predicted']):>20} {_pct(both['actual']):>20}")
    lines.append("Assumed: each request took as long as it did; agents were available on their")
    lines.append("shifts; today's schedules and leave apply to the past.")
    return lines
