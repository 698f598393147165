"""Reconciliation: a full key/version listing compared with the bindings.

Finds what incremental passes can miss — updates whose version moved while a checkpoint
was mid-scan, records created behind the cursor, and records deleted outright (no
deletion mark) — and repairs them through the normal import. It is guarded: a listing
that failed or came back empty changes nothing, and its hard deletes go through the
mass-delete guard every deletion path shares (``sync.deletes``): beyond
``max_delete_share`` it deletes nothing and says so.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from crm_bridge.app import App
from crm_bridge.errors import RemoteError
from sync.deletes import permit
from sync.engine import finish_run, mappings_for, start_run
from sync.importer import Importer, ImportStats
from sync.source import RemoteBackend, supports_version_scan
from sync.tables import BindingRow, SyncRunRow

__all__ = ["ReconcileStats", "reconcile", "reconcile_model", "trim_runs"]

log = logging.getLogger(__name__)
CANNOT_LIST = "backend cannot list versions; nothing to reconcile"


@dataclass
class ReconcileStats:
    listed: int = 0
    repaired: int = 0  # missed updates and creates, re-imported
    deleted: int = 0  # bindings tombstoned: the record is gone from the CRM
    refused: str | None = None  # why a guard stopped the run

    def as_dict(self) -> dict[str, Any]:
        return {"listed": self.listed, "repaired": self.repaired, "deleted": self.deleted, "refused": self.refused}


def _fingerprint(remote_id: str) -> int:
    """64 bits of a key: what the listing keeps of each key it saw (8 bytes a key, so a
    million-record listing holds 8 MB, not the keys themselves; ~40 MB while it is sorted)."""
    return int.from_bytes(hashlib.blake2b(remote_id.encode("utf-8"), digest_size=8).digest(), "big")


def _seen(listed: array[int], remote_id: str) -> bool:
    at = bisect_left(listed, fp := _fingerprint(remote_id))
    return at < len(listed) and listed[at] == fp


def reconcile_model(app: App, backend_name: str, model: str, now: datetime) -> ReconcileStats:
    """Reconcile one model of one backend (a version-scanning one), in bounded memory: each
    page of the listing is compared with its bindings as it comes; of the keys only a
    64-bit fingerprint each is kept, to find the bindings the listing no longer holds (a
    fingerprint shared by chance can only spare a binding, never tombstone one)."""
    backend: RemoteBackend = app.backend(backend_name)
    scanner = backend
    stats = ReconcileStats()
    if not supports_version_scan(scanner):
        stats.refused = CANNOT_LIST
        return stats
    mappings = mappings_for(backend, list(app.config.backends[backend_name].models))
    spec = mappings[model].spec
    importer = Importer(app.store, app.bus, app.config, backend, mappings, now)
    listed = array("Q")
    for page in scanner.scan(spec):
        listed.extend(_fingerprint(stub.id) for stub in page)
        stats.listed += len(page)
        # What the incremental pass does with a page of stubs: read the changed in full, store them.
        found = ImportStats()
        importer.store_page(mappings[model], (), f"{model}:reconcile", None, found, list(page))
        stats.repaired += found.fetched
    listed = array("Q", sorted(listed))  # sorting briefly holds the fingerprints as ints (~40 bytes each)
    mine = (BindingRow.backend == backend_name, BindingRow.model == model, BindingRow.state == "active")
    with app.store.transaction() as s:
        gone = [remote_id for remote_id in s.scalars(select(BindingRow.remote_id).where(*mine)
                                                     .execution_options(yield_per=10_000)) if not _seen(listed, remote_id)]
    if not gone:
        return stats
    if not stats.listed:
        stats.refused = f"the listing of {spec.entity} came back empty; {len(gone)} bindings left alone"
    else:  # the guard every deletion path shares (sync.deletes), counted over its window
        with app.store.transaction() as s:
            held = permit(s, app.config, backend_name, model, len(gone), now)
            if held is None:
                stats.deleted = importer.tombstone(s, model, gone, ImportStats())
        if held is not None:
            stats.refused = (f"{held} — {len(gone)} records are missing from {spec.entity}; check the "
                             "publication and rights in 1C first")
    if stats.refused:
        log.error("reconcile %s/%s refused: %s", backend_name, model, stats.refused,
                  extra={"event": "sync.reconcile.refused", "backend": backend_name})
    return stats


@dataclass
class _Summary:
    backends: dict[str, Any] = field(default_factory=dict)


def trim_runs(app: App, now: datetime) -> int:
    """Remove the records of runs finished more than ``schedule.keep_runs_days`` ago;
    returns how many. Running and failed-but-recent runs stay for ``crm-bridge status``."""
    cutoff = now - timedelta(days=app.config.schedule.keep_runs_days)
    with app.store.transaction() as s:
        removed = s.execute(delete(SyncRunRow).where(SyncRunRow.finished.is_not(None), SyncRunRow.finished < cutoff))
        return int(getattr(removed, "rowcount", 0) or 0)


def reconcile(app: App, now: datetime) -> dict[str, Any]:
    """Job ``sync.reconcile``: every model of every enabled backend; then the run records
    past their keeping time are trimmed."""
    summary = _Summary()
    for name in app.enabled_backends():
        run_id = start_run(app, name, "reconcile", now)
        problems: list[str] = []
        listed = repaired = 0
        for model in app.config.backends[name].models:
            try:
                stats = reconcile_model(app, name, model, now)
            except RemoteError as exc:
                log.warning("reconcile %s/%s: %s", name, model, exc, extra={"event": "sync.reconcile.failed", "backend": name})
                summary.backends.setdefault(name, {})[model] = {"error": str(exc)}
                problems.append(f"{model}: {exc}")
                continue
            summary.backends.setdefault(name, {})[model] = stats.as_dict()
            listed, repaired = listed + stats.listed, repaired + stats.repaired
            if stats.refused and stats.refused != CANNOT_LIST:  # held deletions, an empty listing: a person decides
                problems.append(f"{model}: {stats.refused}")
        # what `crm-bridge status` shows: the refusals with their numbers
        finish_run(app, run_id, status="failed" if problems else "ok", error="; ".join(problems) or None,
                   counts={"read": listed, "updated_count": repaired})
    trimmed = trim_runs(app, now)
    if trimmed:
        log.info("removed %d run records older than %d days", trimmed, app.config.schedule.keep_runs_days,
                 extra={"event": "sync.runs.trimmed"})
    return summary.backends
