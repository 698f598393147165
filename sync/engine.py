"""The sync jobs: ``sync.pull`` (import every mapped model of every backend) and
``sync.dispatch`` (send the outbox). The same functions run under the embedded
scheduler and under workers; each pass leaves a ``sync_runs`` record.

Called with no keyword arguments a job does a whole pass (the embedded runner). Under the
queue each runs as streams (``crm_bridge.queue``): ``pull`` per backend, model and
key-range partition — each partition its own checkpoint — and ``push`` per outbox shard
(``local_id % n``), so several workers share the work without overlapping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from crm_bridge import progress
from crm_bridge.app import App
from crm_bridge.errors import ConfigError, RemoteError
from crm_bridge.queue import Stream, fans_out
from mapping.compile import CompiledMapping
from mapping.load import compiled_file
from mapping.refusal import refusal_problems
from sync.binder import KnownBindings
from sync.exporter import ExportStats, dispatch, due_count
from sync.feed import FeedResult, feed_pass
from sync.hold import holds_of
from sync.importer import Importer, ImportStats, Partition, import_model, supports_key_ranges
from sync.shadow import in_shadow, shadow_pass
from sync.source import RemoteBackend, supports_change_feed, supports_version_scan
from sync.tables import SyncRunRow

__all__ = ["DEFAULT_PARTITIONS", "finish_run", "mappings_for", "partitions", "pull", "pull_streams", "push", "push_streams", "start_run"]

log = logging.getLogger(__name__)
DEFAULT_PARTITIONS = 8
DISPATCH_BATCH = 500
DISPATCH_BUDGET = 60.0  # seconds one dispatch pass keeps taking full batches


def partitions(app: App) -> int:
    """How many streams a model's import and the outbox split into under the queue."""
    return int(getattr(app.config.schedule, "partitions", None) or DEFAULT_PARTITIONS)


def _compiled(backend: RemoteBackend, model: str) -> CompiledMapping:
    path = backend.mappings_dir / f"{model}.yaml"
    if not path.is_file():
        raise ConfigError(f"backend {backend.name!r}: no mapping for model {model!r}: {path} is missing")
    return compiled_file(path)


def mappings_for(backend: RemoteBackend, models: list[str], *,
                 broken: dict[str, str] | None = None) -> dict[str, CompiledMapping]:
    """The compiled mapping of each model, in the configured order (referenced models first).

    Raises:
        ConfigError: a mapping file is missing or invalid — unless `broken` is given: then
            that model is left out and `broken[model]` says why (an import goes on with
            the other models; one bad file must not stop them).
    """
    result: dict[str, CompiledMapping] = {}
    for model in models:
        try:
            result[model] = _compiled(backend, model)
        except ConfigError as exc:
            if broken is None:
                raise
            broken[model] = str(exc)
            log.error("backend %s: the mapping of %s is unusable, its import waits: %s", backend.name,  # noqa: TRY400
                      model, exc, extra={"event": "sync.mapping.invalid", "backend": backend.name})
    return result


def start_run(app: App, backend: str, kind: str, now: datetime, stream: str | None = None) -> int:
    """Record that a pass of `kind` over `backend` (one `stream` of it, under the queue)
    starts; ``crm-bridge status`` reads these records, never the process running them."""
    with app.store.transaction() as session:
        run = SyncRunRow(backend=backend, kind=kind, started=now, stream=stream)
        session.add(run)
        session.flush()
        return run.id


def finish_run(app: App, run_id: int, *, status: str, counts: dict[str, int], error: str | None = None) -> None:
    """Record a run's outcome (``ok`` or ``failed``), its counts and, failed, why."""
    with app.store.transaction() as session:
        run = session.get(SyncRunRow, run_id)
        assert run is not None
        run.finished, run.status, run.error = app.clock(), status, error
        for name, value in counts.items():
            setattr(run, name, value)


def pull_streams(app: App) -> Iterator[Stream]:
    """One stream per backend, model and partition, referenced models first.

    Every tick queues them in this order and workers take them first come, first served,
    so customers are mostly in before the requests that name them (a reference found
    missing is imported on demand anyway). No priorities: a quiet high-priority stream
    re-queued every tick would starve the busy ones.
    """
    count = partitions(app)
    for name in app.enabled_backends():
        backend = app.backend(name)
        models = list(app.config.backends[name].models)
        if count > 1 and supports_version_scan(backend) and supports_key_ranges(backend) and not supports_change_feed(backend):
            for model in models:
                for index in range(count):
                    part = f"{index}/{count}"
                    yield Stream(f"pull:{name}:{model}:{part}", {"backend": name, "model": model, "partition": part})
        else:
            # Without version scans a reference to a record not imported yet cannot be
            # fetched on demand: the models must go in order, so the backend is one stream.
            # A change feed is one sequence of packages: one stream too.
            yield Stream(f"pull:{name}", {"backend": name})


@fans_out(pull_streams)
def pull(app: App, now: datetime, *, backend: str | None = None, model: str | None = None,
         partition: str | None = None) -> dict[str, Any]:
    """Import every enabled backend's mapped models; returns counts per backend and model.

    ``backend``, ``model`` and ``partition`` (``"3/8"``: slice 3 of 8 of the key space,
    its own checkpoint) narrow the pass to one stream. A backend with a change feed
    (``sync.feed``) is read through it unless a model or partition is asked for.
    """
    summary: dict[str, Any] = {}
    for name in [backend] if backend else app.enabled_backends():
        remote: RemoteBackend = app.backend(name)
        models = list(app.config.backends[name].models)
        if model is not None and model not in models:
            raise ConfigError(f"backend {name!r} has no model {model!r}; configured: {', '.join(models)}")
        stream = " ".join(p for p in (model, partition) if p) or None
        run_id = start_run(app, name, "import", now, stream)
        total, started = ImportStats(), time.monotonic()
        fed: FeedResult | None = None
        refused: dict[str, str] = {}  # model -> why 1C refused it (the other models went on)
        try:
            mappings = mappings_for(remote, models, broken=refused)
            part = _partition(partition, remote) if partition else None
            results: Iterable[tuple[str, ImportStats]]
            whole = model is None and partition is None
            if whole and supports_change_feed(app.backend(name)):
                fed = feed_pass(app.store, app.bus, app.config, remote, mappings, now)
                results = fed.models.items()
            else:  # lazily, model by model: a failure keeps the counts of the models done
                wanted = [m for m in ([model] if model else models) if m in mappings]  # a broken mapping: in `refused`
                results = _each_model(app, remote, mappings, wanted, now, part, refused)
            for current, stats in results:
                total.add(stats)
                summary.setdefault(name, {})[current] = asdict(stats) | {"errors": stats.errors[:5]}
            if fed is not None:
                summary.setdefault(name, {})["feed"] = fed.as_dict()
        except RemoteError as exc:
            # An expected fault, said in one line; the traceback only for whoever debugs
            log.error("import from %s failed: %s", name, exc, exc_info=log.isEnabledFor(logging.DEBUG),  # noqa: TRY400
                      extra={"event": "sync.import.failed", "backend": name})
            finish_run(app, run_id, status="failed", counts=_counts(total), error=str(exc))
            summary.setdefault(name, {})["error"] = str(exc)
            continue
        except Exception as exc:  # a bug or a store fault: the run must not stay "running" forever
            finish_run(app, run_id, status="failed", counts=_counts(total), error=f"{type(exc).__name__}: {exc}")
            raise
        if refused:
            error = "; ".join(f"{m}: {why}" for m, why in refused.items())
            finish_run(app, run_id, status="failed", counts=_counts(total), error=error)
            for current, why in refused.items():
                summary.setdefault(name, {})[current] = {"error": why}
            summary.setdefault(name, {})["error"] = error
            continue
        # a package not acknowledged (sync.feed logged why), or deletions the mass-delete guard held
        problem = fed.problem if fed is not None and fed.problem else total.held
        if problem:
            finish_run(app, run_id, status="failed", counts=_counts(total), error=problem)
            summary.setdefault(name, {})["error"] = problem
            continue
        finish_run(app, run_id, status="ok", counts=_counts(total))
        log.info(
            "import from %s: %d read, %d created, %d updated in %.1fs", name, total.read, total.created,
            total.updated, time.monotonic() - started, extra={"event": "sync.import.done", "backend": name},
        )
    return summary


def _each_model(app: App, remote: RemoteBackend, mappings: dict[str, CompiledMapping], models: list[str], now: datetime,
                part: Partition | None, refused: dict[str, str]) -> Iterator[tuple[str, ImportStats]]:
    """Import `models` in order. A model the remote refuses (not published, no rights) is
    noted in `refused` and the next one goes on — its references to the refused model's
    records fail alone; a remote that is down (``RemoteUnavailable``) ends the pass."""
    known = KnownBindings()  # the customers the requests point at were bound by this pass a moment ago
    for current in models:
        try:
            stats = import_model(app.store, app.bus, app.config, remote, mappings, current, now, partition=part,
                                 known=known)
        except RemoteError as exc:
            if exc.retryable and not exc.administrative:
                raise
            # A field the remote does not publish: said as `mapping check` says it (file:line,
            # did you mean), not as the remote's "400 ... 'Темаа'".
            problems = [] if exc.retryable else refusal_problems(remote, remote.name, remote.mappings_dir / f"{current}.yaml")
            said = "; ".join(problems) if problems else str(exc)
            log.warning("import of %s from %s refused: %s", current, remote.name, said,
                        extra={"event": "sync.import.refused", "backend": remote.name})
            refused[current] = said
            continue
        yield current, stats


def _counts(stats: ImportStats) -> dict[str, int]:
    return {"read": stats.read + stats.fetched, "created_count": stats.created, "updated_count": stats.updated, "skipped": stats.skipped, "failed": stats.failed}


def push_streams(app: App) -> Iterator[Stream]:
    """One stream per backend and outbox shard."""
    count = partitions(app)
    for name in app.enabled_backends():
        for index in range(count):
            yield Stream(f"dispatch:{name}:{index}/{count}", {"backend": name, "shard": f"{index}/{count}"})


def _partition(text: str, remote: RemoteBackend) -> Partition:
    try:
        return Partition.parse(text, remote)
    except ValueError as exc:
        raise ConfigError(f"backend {remote.name!r}: {exc}") from None


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"shard {text!r}: expected '<index>/<count>', e.g. '3/8'") from None
    if not 0 <= index < count:
        raise ConfigError(f"shard {text!r}: index must be 0..{count - 1}")
    return index, count


@fans_out(push_streams)
def push(app: App, now: datetime, *, backend: str | None = None, shard: str | None = None,
         budget: float | None = None) -> dict[str, Any]:
    """Send every enabled backend's due outbox rows; returns counts per backend.

    Called as the scheduler does (``budget=None``), batches of ``DISPATCH_BATCH`` rows
    follow each other while they come back full and clean, for at most
    ``DISPATCH_BUDGET`` seconds: the next pass comes in seconds. With a ``budget``
    (seconds, ``run --once``) the pass drains: batches go on until nothing is due or a
    batch sends nothing (1C down: every row waits), and stop at the budget. Each
    backend's summary says what is still ``pending`` (due, unsent) and whether the pass
    ``stopped_at_budget``. ``backend`` and ``shard`` (``"3/8"``: the rows of records with
    ``local_id % 8 == 3``) narrow the pass to one stream.
    """
    summary: dict[str, Any] = {}
    part = _shard(shard) if shard else None
    holds = holds_of(app.registry)  # a new request waits for its SLA plan: one write, not two (sync/hold.py)
    drain = budget is not None
    deadline = time.monotonic() + (budget or 0.0)  # a budget is the whole pass's, over every backend
    for name in [backend] if backend else app.enabled_backends():
        if not drain:
            deadline = time.monotonic() + DISPATCH_BUDGET  # the scheduler's pass: each backend its own minute
        remote: RemoteBackend = app.backend(name)
        mappings = mappings_for(remote, list(app.config.backends[name].models))
        run_id = start_run(app, name, "export", now, f"shard {shard}" if shard else None)
        importer = Importer(app.store, app.bus, app.config, remote, mappings, now)
        if in_shadow(app.config, name):  # nothing is sent: what would be is recorded (sync/shadow.py)
            summary[name] = _shadow(app, run_id, remote, mappings, now, importer, part)
            continue
        stats, stopped = ExportStats(), False
        with progress.task(f"write-back {name}", due_count(app.store, name, now, part, holds)) as bar:
            while True:
                batch = dispatch(app.store, remote, mappings, now, importer=importer, limit=DISPATCH_BATCH, shard=part,
                                 bar=bar, concurrency=app.config.backends[name].max_concurrency, holds=holds)
                stats.add(batch)
                handled = batch.sent + batch.unchanged
                if handled + batch.created == 0:
                    break  # nothing due, or nothing could be sent: the next batch would meet the same
                if not drain and (handled < DISPATCH_BATCH or batch.retried or batch.parked):
                    break
                if time.monotonic() > deadline:
                    stopped = True
                    break
        pending = due_count(app.store, name, now, part, holds)
        finish_run(
            app, run_id, status="ok" if not stats.parked else "failed",
            counts={"read": stats.sent + stats.retried + stats.parked, "updated_count": stats.sent, "failed": stats.parked},
            error="; ".join(stats.errors[:3]) or None,
        )
        summary[name] = {"sent": stats.sent, "created": stats.created, "unchanged": stats.unchanged, "retried": stats.retried,
                         "parked": stats.parked, "pending": pending, "stopped_at_budget": stopped and pending > 0,
                         "errors": stats.errors[:5]}
    return summary


def _shadow(app: App, run_id: int, remote: RemoteBackend, mappings: dict[str, CompiledMapping], now: datetime,
            importer: Importer, part: tuple[int, int] | None) -> dict[str, Any]:
    """The dispatch pass of a backend in shadow mode: record, send nothing. Under the queue
    only the first shard records (the log is per row, not per shard), the others idle."""
    if part is not None and part[0] != 0:
        finish_run(app, run_id, status="ok", counts={})
        return {"shadow": True, "sent": 0, "recorded": 0}
    stats = shadow_pass(app.store, remote, mappings, now, importer=importer, limit=DISPATCH_BATCH * 10)
    finish_run(app, run_id, status="ok" if not stats.errors else "failed", counts={"read": stats.recorded},
                error="; ".join(stats.errors[:3]) or None)
    return {"shadow": True, "sent": 0, "recorded": stats.recorded, "would_write": stats.would_write,
            "unchanged": stats.unchanged, "errors": stats.errors[:5]}
