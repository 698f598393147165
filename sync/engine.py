"""The sync jobs: ``sync.pull`` (import every mapped model of every backend) and
``sync.dispatch`` (send the outbox). The same functions run under the embedded
scheduler and under workers; each pass leaves a ``sync_runs`` record."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from crm_bridge.app import App
from crm_bridge.errors import ConfigError, RemoteError
from mapping.compile import CompiledMapping, compile_mapping
from mapping.spec import load_mapping
from sync.exporter import dispatch
from sync.importer import Importer, ImportStats, import_model
from sync.source import RemoteBackend
from sync.tables import SyncRunRow

__all__ = ["mappings_for", "pull", "push"]

log = logging.getLogger(__name__)
_CACHE: dict[tuple[str, str], CompiledMapping] = {}


def mappings_for(backend: RemoteBackend, models: list[str]) -> dict[str, CompiledMapping]:
    """The compiled mapping of each model, in the configured order (referenced models first)."""
    result: dict[str, CompiledMapping] = {}
    for model in models:
        path = backend.mappings_dir / f"{model}.yaml"
        if not path.is_file():
            raise ConfigError(f"backend {backend.name!r}: no mapping for model {model!r}: {path} is missing")
        key = (str(path), str(path.stat().st_mtime_ns))
        if key not in _CACHE:
            _CACHE[key] = compile_mapping(load_mapping(path))
        result[model] = _CACHE[key]
    return result


def _start_run(app: App, backend: str, kind: str, now: datetime) -> int:
    with app.store.transaction() as session:
        run = SyncRunRow(backend=backend, kind=kind, started=now)
        session.add(run)
        session.flush()
        return run.id


def _finish_run(app: App, run_id: int, *, status: str, counts: dict[str, int], error: str | None = None) -> None:
    with app.store.transaction() as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        run.finished, run.status, run.error = app.clock(), status, error
        for name, value in counts.items():
            setattr(run, name, value)


def pull(app: App, now: datetime) -> dict[str, Any]:
    """Import every enabled backend's mapped models; returns counts per backend."""
    summary: dict[str, Any] = {}
    for name in app.enabled_backends():
        backend: RemoteBackend = app.backend(name)
        models = list(app.config.backends[name].models)
        run_id = _start_run(app, name, "import", now)
        total, started = ImportStats(), time.monotonic()
        try:
            mappings = mappings_for(backend, models)
            for model in mappings:
                stats = import_model(app.store, app.bus, app.config, backend, mappings, model, now)
                total.add(stats)
                summary.setdefault(name, {})[model] = asdict(stats) | {"errors": stats.errors[:5]}
        except RemoteError as exc:
            log.exception("import from %s failed", name, extra={"event": "sync.import.failed", "backend": name})
            _finish_run(app, run_id, status="failed", counts=_counts(total), error=str(exc))
            summary.setdefault(name, {})["error"] = str(exc)
            continue
        _finish_run(app, run_id, status="ok", counts=_counts(total))
        log.info(
            "import from %s: %d read, %d created, %d updated in %.1fs", name, total.read, total.created,
            total.updated, time.monotonic() - started, extra={"event": "sync.import.done", "backend": name},
        )
    return summary


def _counts(stats: ImportStats) -> dict[str, int]:
    return {"read": stats.read + stats.fetched, "created_count": stats.created, "updated_count": stats.updated, "skipped": stats.skipped, "failed": stats.failed}


def push(app: App, now: datetime) -> dict[str, Any]:
    """Send every enabled backend's due outbox rows; returns counts per backend."""
    summary: dict[str, Any] = {}
    for name in app.enabled_backends():
        backend: RemoteBackend = app.backend(name)
        mappings = mappings_for(backend, list(app.config.backends[name].models))
        run_id = _start_run(app, name, "export", now)
        importer = Importer(app.store, app.bus, app.config, backend, mappings, now)
        stats = dispatch(app.store, backend, mappings, now, importer=importer)
        _finish_run(
            app, run_id, status="ok" if not stats.parked else "failed",
            counts={"read": stats.sent + stats.retried + stats.parked, "updated_count": stats.sent, "failed": stats.parked},
            error="; ".join(stats.errors[:3]) or None,
        )
        summary[name] = {"sent": stats.sent, "unchanged": stats.unchanged, "retried": stats.retried, "parked": stats.parked, "errors": stats.errors[:5]}
    return summary
