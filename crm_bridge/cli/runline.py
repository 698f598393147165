"""What ``crm-bridge run`` prints for each job it ran: one line per job and backend, for
people, or one JSON object per job run, for scripts.

A line reads left to right as an operator asks: when (in the configured time zone, not
UTC), which job, which backend, what it did, how long it took::

    10:56:03 MSK  sync.pull      demo-1c   read 124, created 120, updated 4  1.2 s

Pure: the caller passes the instant and the zone, so a test pins the output exactly.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["job_json", "job_lines", "totals"]

_NOT_COUNTS = frozenset({"seconds"})


def totals(data: dict[str, Any]) -> Counter[str]:
    """The counts in a job's summary, summed over its models (nested dictionaries);
    flags (booleans), lists and ``seconds`` are not counts."""
    found: Counter[str] = Counter()
    for key, value in data.items():
        if isinstance(value, dict):
            found.update(totals(value))
        elif isinstance(value, int) and not isinstance(value, bool) and key not in _NOT_COUNTS:
            found[key] += value
    return found


def by_backend(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A job's summary split by backend (``{"crm": {...}}``); a job that works on the
    store alone (``sla.tick``) has one part, named ``-``."""
    parts = [(k, v) for k, v in summary.items() if isinstance(v, dict)]
    return parts or [("-", summary)]


def problem(done: dict[str, Any]) -> str | None:
    """Why this part of a job needs a person, or None."""
    if done.get("error"):
        return str(done["error"])
    if done.get("parked"):
        return f"{done['parked']:,} outbox rows parked; see crm-bridge jobs list"
    return None


def counts_text(done: dict[str, Any]) -> str:
    """``read 124, created 120`` (zero counts left out), or ``nothing to do``."""
    return ", ".join(f"{k} {v:,}" for k, v in totals(done).items() if v) or "nothing to do"


def job_lines(job: str, summary: dict[str, Any], *, at: datetime, zone: ZoneInfo) -> list[str]:
    """One line per backend the job worked on: time, job, backend, counts or the failure,
    duration. `at` must be aware (when the job ended); it is shown in `zone`."""
    local = at.astimezone(zone)
    stamp = f"{local:%H:%M:%S} {local.tzname() or ''}".rstrip()
    seconds = f"{float(summary.get('seconds', 0)):.1f} s"
    lines = []
    for backend, done in by_backend(summary):
        why = problem(done)
        what = f"FAILED: {why}" if why else counts_text(done)
        lines.append(f"{stamp}  {job:<15} {backend:<9} {what}  {seconds}")
    return lines


def job_json(job: str, summary: dict[str, Any], *, at: datetime, zone: ZoneInfo) -> str:
    """One JSON object on one line: ``time`` (ISO, in `zone`), ``job``, ``seconds``,
    ``failed`` (what needs a person, per backend) and the job's whole ``result``."""
    failed = {backend: why for backend, done in by_backend(summary) if (why := problem(done))}
    record = {"time": at.astimezone(zone).isoformat(timespec="seconds"), "job": job,
              "seconds": summary.get("seconds"), "failed": failed,
              "result": {k: v for k, v in summary.items() if k != "seconds"}}
    return json.dumps(record, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)
