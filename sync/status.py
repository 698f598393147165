"""The sync part of ``crm-bridge status``: per backend and stream the last run and its
outcome, the lag, the outbox (among the pending, the rows held while a decision on their
record is queued, with why and until when: ``sync.hold``), open conflicts, records set
aside, held deletions and reconcile's refusals — each thing that needs a person with the
command that acts on it.

It reads the run records (``sync_runs``), never the process that runs the jobs, so the
embedded mode and the workers show the same: under the queue a backend's streams run side
by side and its newest record is usually one still running, hence the last *finished*
run of every stream is what counts (a stream that failed is not hidden by another that
passed after it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_bridge.status import Problem, Section, ago
from sync.hold import held_counts
from sync.quarantine_cli import counts as quarantine_counts
from sync.shadow import shadow_line, shadow_state
from sync.tables import BindingRow, CheckpointRow, ConflictRow, OutboxRow, SyncRunRow

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["KINDS", "STALE_STREAM", "sync_status"]

KINDS = ("import", "export", "reconcile")
#: A stream whose last run ended this long before the backend's newest one is gone (the
#: configuration changed, or the mode: embedded ↔ workers) and no longer counts.
STALE_STREAM = timedelta(days=1)
_ALLOW = re.compile(r"crm-bridge sync allow-deletes --backend \S+ --model \w+")
_HELD = re.compile(r"held \d+ deletions of \w+ \([^)]*\)")


@dataclass
class _Runs:
    """The last finished run of each stream of one backend and kind."""

    last: list[SyncRunRow] = field(default_factory=list)
    last_ok: datetime | None = None  # the oldest of the streams' last successes: how old the data may be
    running: int = 0  # streams started and not finished (since the newest finished run)


def _runs(s: Session, backend: str, kind: str) -> _Runs:
    mine = (SyncRunRow.backend == backend, SyncRunRow.kind == kind)
    newest_ids = select(func.max(SyncRunRow.id)).where(*mine, SyncRunRow.finished.is_not(None)).group_by(SyncRunRow.stream)
    last = list(s.scalars(select(SyncRunRow).where(SyncRunRow.id.in_(newest_ids)).order_by(SyncRunRow.stream)))
    result = _Runs()
    if last:
        newest = max(r.finished for r in last if r.finished is not None)
        last = [r for r in last if r.finished is not None and r.finished >= newest - STALE_STREAM]
        oks = dict(s.execute(select(SyncRunRow.stream, func.max(SyncRunRow.finished)).where(
            *mine, SyncRunRow.status == "ok").group_by(SyncRunRow.stream)).all())
        ok_times = [oks.get(r.stream) for r in last]
        result.last_ok = None if None in ok_times else min(t for t in ok_times if t is not None)
    result.last = last
    since = max((r.started for r in last), default=None)
    running = select(func.count()).select_from(SyncRunRow).where(*mine, SyncRunRow.finished.is_(None))
    result.running = int(s.scalar(running if since is None else running.where(SyncRunRow.started >= since)) or 0)
    return result


def _run_dict(runs: _Runs, now: datetime) -> dict[str, Any] | None:
    """One backend's kind of run, summed over its streams (one stream in embedded mode)."""
    if not runs.last:
        return {"status": "running", "running": runs.running} if runs.running else None
    failed = [r for r in runs.last if r.status != "ok"]
    finished = max(r.finished for r in runs.last if r.finished is not None)
    return {
        "status": "failed" if failed else "ok", "started": min(r.started for r in runs.last), "finished": finished,
        "read": sum(r.read for r in runs.last), "created": sum(r.created_count for r in runs.last),
        "updated": sum(r.updated_count for r in runs.last), "skipped": sum(r.skipped for r in runs.last),
        "failed": sum(r.failed for r in runs.last),
        "error": "; ".join(dict.fromkeys(r.error for r in failed if r.error)) or None,
        "lag_seconds": None if runs.last_ok is None else round((now - runs.last_ok).total_seconds()),
        "running": runs.running,
        "streams": [{"stream": r.stream, "status": r.status, "finished": r.finished, "error": r.error}
                    for r in runs.last] if len(runs.last) > 1 else [],
    }


def _backend(s: Session, name: str, now: datetime, app: App) -> dict[str, Any]:
    runs = {kind: _run_dict(_runs(s, name, kind), now) for kind in KINDS}
    queue = dict(s.execute(select(OutboxRow.state, func.count()).where(OutboxRow.backend == name)
                           .group_by(OutboxRow.state)).all())
    retrying = int(s.scalar(select(func.count()).select_from(OutboxRow).where(
        OutboxRow.backend == name, OutboxRow.state == "pending", OutboxRow.attempts > 0)) or 0)
    bound = dict(s.execute(select(BindingRow.model, func.count()).where(BindingRow.backend == name)
                           .group_by(BindingRow.model)).all())
    conflicts = int(s.scalar(select(func.count()).select_from(ConflictRow).where(
        ConflictRow.backend == name, ConflictRow.state == "open")) or 0)
    streams = {c.stream: c.value for c in s.scalars(select(CheckpointRow).where(CheckpointRow.backend == name))}
    errors = " ".join(r["error"] for r in runs.values() if r and r.get("error"))
    holds = held_counts(s, app.registry, name, now)  # pending, but waiting for a decision on the record (sync.hold)
    return {"backend": name, **runs,
            "outbox": {"pending": queue.get("pending", 0), "retrying": retrying,
                       "held": sum(h["rows"] for h in holds), "holds": holds,
                       "parked": queue.get("parked", 0), "sent": queue.get("sent", 0)},
            "bindings": bound, "conflicts": conflicts, "streams": streams,
            "quarantine": quarantine_counts(s, name), "deletions_held": _HELD.findall(errors),
            "shadow": shadow_state(s, app.config, name)}


def _problems(b: dict[str, Any]) -> list[Problem]:
    name, found = b["backend"], []
    for kind in KINDS:
        run = b[kind]
        if run is None or run["status"] != "failed":
            continue
        error = run["error"] or "no reason recorded"
        allow = _ALLOW.search(error)
        command = (allow.group(0) if allow else "crm-bridge jobs list --state parked" if kind == "export"
                   else "crm-bridge quarantine list" if "not acknowledged" in error else "crm-bridge check")
        found.append(Problem(f"{name}: the last {kind} failed: {error}", command))
    if b["outbox"]["parked"]:
        found.append(Problem(f"{name}: {b['outbox']['parked']} outbox row(s) parked, not sent to the CRM",
                             "crm-bridge jobs list --state parked"))
    if b["conflicts"]:
        found.append(Problem(f"{name}: {b['conflicts']} conflict(s) wait for a decision", "crm-bridge conflicts list"))
    if b["quarantine"]["held"]:
        found.append(Problem(f"{name}: {b['quarantine']['held']} record(s) set aside (quarantined)",
                             f"crm-bridge quarantine list --backend {name}"))
    return found


def _run_text(run: dict[str, Any] | None, now: datetime, kind: str) -> str:
    if run is None:
        return "never"
    if "finished" not in run:
        return f"running ({run['running']} stream(s)), none finished yet"
    text = f"{run['status']} {ago(now, run['finished'])}"
    if kind == "import":
        text += f": {run['read']:,} read, {run['created']:,} new, {run['updated']:,} changed, {run['failed']:,} failed"
    elif kind == "export":
        text += f": {run['updated']:,} sent"
    else:
        text += f": {run['read']:,} listed, {run['updated']:,} repaired"
    if len(run["streams"]) > 1:
        bad = sum(1 for r in run["streams"] if r["status"] != "ok")
        text += f" ({len(run['streams'])} streams" + (f", {bad} failed" if bad else "") + ")"
    if run["running"]:
        text += f"; {run['running']} running"
    return text


def _lines(b: dict[str, Any], now: datetime, zone: ZoneInfo) -> list[tuple[str, str]]:
    name = b["backend"]
    imp = b["import"]
    lag = None if imp is None or "lag_seconds" not in imp or imp["lag_seconds"] is None else imp["lag_seconds"]
    lines = [(f"{name} write-back", shadow_line(name, b["shadow"]).removeprefix(f"{name}: "))] if b["shadow"] else []
    lines += [(f"{name} import", _run_text(imp, now, "import")),
             (f"{name} lag", "—" if lag is None else ago(now, now - timedelta(seconds=lag)).removesuffix(" ago")),
             (f"{name} export", _run_text(b["export"], now, "export"))]
    if b["reconcile"] is not None:
        lines.append((f"{name} reconcile", _run_text(b["reconcile"], now, "reconcile")))
    o, q = b["outbox"], b["quarantine"]
    held = "".join(f", {h['rows']:,} held until {h['until'].astimezone(zone):%H:%M} at most: {h['why']}" for h in o["holds"])
    lines.append((f"{name} outbox", f"{o['pending']:,} pending ({o['retrying']:,} retrying{held}), {o['parked']:,} "
                                    f"parked, {o['sent']:,} sent"))
    lines.append((f"{name} records", ", ".join(f"{m} {n:,}" for m, n in sorted(b["bindings"].items())) or "none bound"))
    lines.append((f"{name} attention", f"{b['conflicts']:,} open conflict(s), {q['held']:,} set aside, "
                                       f"{q['notes']:,} stored repaired, {len(b['deletions_held'])} deletion hold(s)"))
    return lines


def sync_status(app: App, now: datetime) -> Section:
    """The ``status.section`` of sync: every configured backend."""
    with app.store.transaction() as s:
        backends = [_backend(s, name, now, app) for name in app.config.backends]
    section = Section("sync", "Sync", data={"backends": backends}, order=10)
    for b in backends:
        section.lines += _lines(b, now, ZoneInfo(app.config.timezone))
        section.problems += _problems(b)
    if not backends:
        section.lines.append(("backends", "none configured"))
    return section
