"""Scale-out: the registered jobs as procrastinate tasks on the PostgreSQL store.

The embedded runner (``crm_bridge.runner``) and the queue run the same job functions;
the queue only decides where and when. Each job is one procrastinate task; a job that can
be split declares its **streams** with ``@fans_out(...)`` (``sync.pull``: one stream per
backend, model and key-range partition; ``sync.dispatch``: one per outbox shard), and
every stream is its own queue job with

* ``lock`` = the stream key: two jobs of one stream never run at once;
* ``queueing_lock`` = the stream key: a stream waits in the queue at most once, however
  many periodic ticks pass while it runs;
* a periodic schedule from ``config.schedule`` (cron with seconds), deferred by every
  worker and deduplicated by procrastinate's periodic table, so N workers on M machines
  run one schedule;
* a priority, if the stream asks for one (first come, first served otherwise).

A job that raises is retried by a follow-up job of the same stream, after an exponential
back-off with full jitter that honours ``retry_after`` (a 429's Retry-After), at most
``MAX_ATTEMPTS`` times; then it stays ``failed`` in ``procrastinate_jobs`` with its
error logged (the next periodic tick starts the stream afresh). procrastinate's own
retry is not used: it re-queues the failed job itself, which collides with the stream's
queueing lock when a tick queued the next run meanwhile (procrastinate #1446).

A worker killed with ``kill -9`` leaves its job ``doing`` and its stream locked. Workers
send heartbeats; the ``queue.stalled`` task (every few heartbeats, on every worker) puts
the jobs of silent workers back in the queue — or marks them failed when the next run of
their stream is already queued. The job functions resume from their checkpoints.

Example::

    app = App.from_file(Path("crm-bridge.yaml"))     # store.url: postgresql+psycopg://…
    prepare_store(app)                               # crm-bridge db upgrade
    run_worker(app, concurrency=1)                   # crm-bridge worker
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from crm_bridge.app import App
from crm_bridge.errors import ConfigError
from crm_bridge.retry import backoff
from crm_bridge.runner import next_in_cycle

if TYPE_CHECKING:
    from procrastinate import JobContext
    from procrastinate.jobs import Job as QueueJob

__all__ = [
    "HEARTBEAT",
    "MAX_ATTEMPTS",
    "SCHEDULE",
    "Queue",
    "Stream",
    "backoff",
    "cron_every",
    "defer_all",
    "fans_out",
    "job_streams",
    "prepare_store",
    "require_postgres",
    "run_worker",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
HEARTBEAT = 10.0  # seconds between a worker's heartbeats
STALL_AFTER = 3  # heartbeats missed before a worker's jobs count as stalled
STALLED_TASK = "queue.stalled"
# Job → the ``config.schedule`` field holding its interval in seconds (as the runner).
SCHEDULE = {
    "sync.pull": "pull_every",
    "sla.tick": "sla_tick_every",
    "routing.tick": "routing_tick_every",
    "csat.tick": "sla_tick_every",  # surveys due after resolution: as often as the SLA clock (as the runner)
    "sync.dispatch": "dispatch_every",
    "notify.dispatch": "notify_every",
    "sync.reconcile": "reconcile_every",
}
_STREAMS = "queue_streams"
_SCHEMA_LOCK = 7_420_111  # pg_advisory_lock key: one schema upgrade at a time
_LEVEL_TABLE = "crm_bridge_queue_schema"
_WAKE_LOCK = 7_420_112  # pg_advisory_xact_lock key (with the task's hash): one wake check per job at a time
_ENDED_TABLE = "crm_bridge_queue_ended"  # streams that ended but are still "doing" in procrastinate's table


@dataclass(frozen=True)
class Stream:
    """One independent slice of a job: its own queue job, lock and periodic schedule.

    Example: ``Stream("pull:crm:ticket:3/8", {"backend": "crm", "model": "ticket",
    "partition": "3/8"})`` runs ``pull(app, now, backend="crm", model="ticket", partition="3/8")``.
    """

    key: str  # lock, queueing lock and periodic id
    kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the job function
    priority: int = 0  # higher runs first; beware: a stream re-queued every tick starves lower ones


StreamsOf = Callable[[App], Iterable[Stream]]
F = TypeVar("F", bound=Callable[..., dict[str, Any]])


def fans_out(streams: StreamsOf) -> Callable[[F], F]:
    """Declare how a job splits into streams that may run in parallel.

    The job function takes each stream's ``kwargs`` as keyword parameters and, called
    without them, still does a whole pass (the embedded runner calls it so)::

        def pull_streams(app):
            for name in app.enabled_backends():
                yield Stream(f"pull:{name}", {"backend": name})

        @fans_out(pull_streams)
        def pull(app, now, *, backend=None): ...
    """

    def mark(job: F) -> F:
        setattr(job, _STREAMS, streams)  # noqa: B010 - a mark read back by job_streams
        return job

    return mark


def job_streams(app: App, name: str) -> list[Stream]:
    """The streams of job `name`: those it declared with ``fans_out``, else one, named after it."""
    streams_of: StreamsOf | None = getattr(app.jobs()[name], _STREAMS, None)
    return [Stream(name)] if streams_of is None else list(streams_of(app))


def cron_every(seconds: int) -> str:
    """A cron expression with seconds (croniter's 6th field) firing every `seconds`.

    Steps cron cannot express are rounded: 90 s → every 2 minutes, 5400 s → every 2 hours.
    """
    if seconds < 60:
        return f"* * * * * */{max(1, seconds)}"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"*/{minutes} * * * * 0"
    hours = round(minutes / 60)
    if hours < 24:
        return f"0 */{hours} * * * 0"
    return "0 0 * * * 0"


def require_postgres(app: App) -> str:
    """The libpq connection string of the store; a ConfigError when the store is not PostgreSQL."""
    url = make_url(app.config.store.url)
    if url.get_backend_name() != "postgresql":
        msg = (f"{app.config.source}: store.url is {app.store.url}, but scale-out workers need PostgreSQL "
               "(the queue lives in the store). Set store.url: postgresql+psycopg://user@host/db, "
               "or run the embedded mode: crm-bridge run")
        raise ConfigError(msg)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _is_postgres(app: App) -> bool:
    return make_url(app.config.store.url).get_backend_name() == "postgresql"


# -- schema ---------------------------------------------------------------------------
def prepare_store(app: App) -> str | None:
    """Migrate the store and, on PostgreSQL, install or migrate procrastinate's schema.

    Idempotent and safe to run from several processes at once (a PostgreSQL advisory lock
    serialises them). Returns what happened to the queue schema, or None when there is no
    queue (SQLite, or procrastinate not installed: ``pip install crm-bridge[scale]``).
    """
    if not _is_postgres(app):
        app.upgrade_db()
        return None
    with app.store.engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({_SCHEMA_LOCK})")
        conn.commit()
        try:
            app.upgrade_db()
            return _install_queue_schema(conn)
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_SCHEMA_LOCK})")
            conn.commit()


def _install_queue_schema(conn: Connection) -> str | None:
    """Create procrastinate's tables, or apply the migrations shipped since the level we
    recorded. procrastinate's ``schema.sql`` is not idempotent, hence the level table."""
    try:
        from procrastinate.schema import SchemaManager
    except ImportError:
        return None
    migrations = sorted(
        (entry.name, entry) for entry in resources.files("procrastinate.sql.migrations").iterdir()
        if entry.name.endswith(".sql")
    )
    newest = migrations[-1][0]
    shown = newest.removesuffix(".sql")
    raw = conn.connection.driver_connection  # psycopg: without parameters, many statements and no %-escapes
    assert raw is not None
    exists = conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is not None
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {_LEVEL_TABLE} (level varchar(200) NOT NULL)")
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {_ENDED_TABLE} (job_id bigint PRIMARY KEY)")
    level = conn.exec_driver_sql(f"SELECT level FROM {_LEVEL_TABLE}").scalar()
    if not exists:
        raw.execute(SchemaManager.get_schema())
        done = f"installed ({shown})"
    elif level is None:
        done = f"found, taken as current ({shown})"  # installed by procrastinate's own CLI
    else:
        todo = [(name, entry) for name, entry in migrations if name > level]
        for _, entry in todo:
            raw.execute(entry.read_text(encoding="utf-8"))
        done = f"migrated by {len(todo)} step(s) to {shown}" if todo else f"current ({shown})"
    conn.exec_driver_sql(f"DELETE FROM {_LEVEL_TABLE}")
    conn.exec_driver_sql(f"INSERT INTO {_LEVEL_TABLE} (level) VALUES ('{newest}')")  # a file name we listed
    conn.commit()
    return done


# -- the queue --------------------------------------------------------------------------
class Queue:
    """The procrastinate app of one bridge ``App``: a task per job, a periodic schedule
    per stream, and the stalled-job task. Build it in the worker process."""

    def __init__(self, app: App, *, heartbeat: float = HEARTBEAT) -> None:
        conninfo = require_postgres(app)
        try:
            import procrastinate
        except ImportError as exc:
            msg = "scale-out workers need procrastinate and psycopg: pip install 'crm-bridge[scale]'"
            raise ConfigError(msg) from exc

        self.app = app
        self.heartbeat = heartbeat
        self.stall_after = STALL_AFTER * heartbeat
        connector = procrastinate.PsycopgConnector(
            conninfo=conninfo, min_size=2, max_size=8, kwargs={"application_name": "crm-bridge worker"})
        self.procrastinate = procrastinate.App(connector=connector)
        self.streams: dict[str, list[Stream]] = {}
        schedule = app.config.schedule
        for name in app.jobs():
            task = self._add_task(name)
            every = getattr(schedule, SCHEDULE.get(name, ""), None)
            self.streams[name] = job_streams(app, name)
            if every is None:
                continue  # registered but not scheduled: runs when deferred
            for stream in self.streams[name]:
                self.procrastinate.periodic(
                    cron=cron_every(int(every)), periodic_id=stream.key, lock=stream.key,
                    queueing_lock=stream.key, priority=stream.priority, task_kwargs=dict(stream.kwargs),
                )(task)
        stalled = self.procrastinate.task(name=STALLED_TASK, queue="queue", queueing_lock=STALLED_TASK)(self._retry_stalled)
        # No lock: a stalled run of this task must not block the next one.
        self.procrastinate.periodic(cron=cron_every(max(1, round(self.stall_after))), periodic_id=STALLED_TASK,
                                    queueing_lock=STALLED_TASK)(stalled)

    def _add_task(self, name: str) -> Any:
        async def run(context: JobContext, /, timestamp: int | None = None, attempt: int = 0, **kwargs: Any) -> dict[str, Any]:
            try:
                result = await asyncio.to_thread(self._run_job, name, kwargs)
            except Exception as exc:
                await self._retry_later(context.job, kwargs, attempt, exc)
                raise
            follower = next_in_cycle(name, self.streams)
            if follower is not None:  # the next job of the cycle runs now, not at its next tick
                try:
                    if await asyncio.to_thread(self._last_of_its_job, context.job):
                        await self._wake(follower)
                except Exception:  # this job's work is done; the follower still runs on its schedule
                    log.warning("job %s: could not queue %s now", name, follower, exc_info=True,
                                extra={"event": "queue.job.wake_failed", "job": name})
            return result

        return self.procrastinate.task(name=name, queue=name, pass_context=True)(run)

    def _run_job(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        result: dict[str, Any] = self.app.jobs()[name](self.app, self.app.clock(), **kwargs)
        log.info("job %s %s done in %.2fs", name, kwargs, time.monotonic() - started,
                 extra={"event": "queue.job.done", "job": name})
        return result

    def _last_of_its_job(self, job: QueueJob) -> bool:
        """Whether `job` is the stream of its job that queues the next job of the cycle: no
        other stream of its job waits, or runs without having ended. The others leave it
        to that one, so 32 import streams wake ``sla.tick`` once, after the last of them,
        as the embedded runner plans once after the whole import — not a cycle (the SLA
        tick, every outbox shard, …) queued behind each stream, which also sent the
        records of the streams still importing before they were planned.

        Streams of one job check one at a time (an advisory lock), each marking itself
        ended first: procrastinate marks a job done only after it returns, so two streams
        ending at once would otherwise each see the other running and neither wake.
        """
        with self.app.store.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key, hashtext(:task))"),
                         {"key": _WAKE_LOCK, "task": job.task_name})
            conn.execute(text(f"INSERT INTO {_ENDED_TABLE} (job_id) VALUES (:id) ON CONFLICT DO NOTHING"), {"id": job.id})
            conn.execute(text(f"DELETE FROM {_ENDED_TABLE} e WHERE NOT EXISTS "
                              "(SELECT 1 FROM procrastinate_jobs j WHERE j.id = e.job_id AND j.status = 'doing')"))
            others = conn.execute(text(
                f"SELECT count(*) FROM procrastinate_jobs j WHERE j.task_name = :task AND j.id <> :id "
                f"AND (j.status = 'todo' OR (j.status = 'doing' AND j.id NOT IN (SELECT job_id FROM {_ENDED_TABLE})))"),
                {"task": job.task_name, "id": job.id}).scalar_one()
        return int(others) == 0

    async def _wake(self, name: str) -> None:
        """Queue one run of each stream of job `name` now; a stream already waiting is left alone."""
        from procrastinate import exceptions

        for stream in self.streams[name]:
            with contextlib.suppress(exceptions.AlreadyEnqueued):
                await self.configured(name, stream).defer_async()

    def configured(self, name: str, stream: Stream) -> Any:
        """Job `name`'s task set up for one run of `stream` (its lock, queueing lock, queue)."""
        return self.procrastinate.configure_task(name, lock=stream.key, queueing_lock=stream.key,
                                                 priority=stream.priority, queue=name, task_kwargs=dict(stream.kwargs))

    async def _retry_later(self, job: QueueJob, kwargs: dict[str, Any], attempt: int, exc: Exception) -> None:
        """Queue the stream again after a back-off; at the maximum, leave the job failed."""
        from procrastinate import exceptions

        name, key = job.task_name, job.lock
        if isinstance(exc, ConfigError) or attempt + 1 >= MAX_ATTEMPTS:
            log.error("job %s %s failed for good after %d attempt(s): %s", name, kwargs, attempt + 1, exc,
                      extra={"event": "queue.job.parked", "job": name})
            return
        delay = backoff(attempt, getattr(exc, "retry_after", None))
        log.warning("job %s %s failed (attempt %d): %s; again in %.1fs", name, kwargs, attempt + 1, exc, delay,
                    extra={"event": "queue.job.retry", "job": name})
        with contextlib.suppress(exceptions.AlreadyEnqueued):  # the stream's next run is waiting: it is the retry
            await self.procrastinate.configure_task(
                name, lock=key, queueing_lock=key, priority=job.priority, queue=job.queue,
                schedule_in={"seconds": delay}, task_kwargs={**kwargs, "attempt": attempt + 1},
            ).defer_async()

    async def _retry_stalled(self, timestamp: int | None = None) -> dict[str, int]:
        """Put the jobs of workers silent for ``stall_after`` seconds back in the queue."""
        from procrastinate import exceptions
        from procrastinate.jobs import Status

        manager = self.procrastinate.job_manager
        counts = {"retried": 0, "failed": 0}
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.stall_after):
            try:
                await manager.retry_job(job)
                outcome = "retried"
            except exceptions.ConnectorException:
                try:  # the next run of its stream is already queued (queueing lock): let that one run
                    await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                    outcome = "failed"
                except exceptions.ConnectorException:
                    continue  # another worker got there first
            counts[outcome] += 1
            log.warning("job %s %s of a silent worker: %s", job.task_name, job.task_kwargs,
                        "queued again" if outcome == "retried" else "dropped, a newer run is queued",
                        extra={"event": "queue.job.stalled", "job": job.task_name})
        return counts


def run_worker(app: App, *, concurrency: int = 1, queues: list[str] | None = None, name: str | None = None,
               heartbeat: float = HEARTBEAT, wait: bool = True, on_ready: Callable[[], None] | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM (running jobs finish first), or, with
    ``wait=False``, until the queue is empty."""
    from procrastinate.app import WorkerOptions

    queue = Queue(app, heartbeat=heartbeat)
    qapp = queue.procrastinate
    options: WorkerOptions = {
        "concurrency": concurrency, "name": name or f"{socket.gethostname()}:{os.getpid()}", "wait": wait,
        "delete_jobs": "successful", "update_heartbeat_interval": heartbeat, "stalled_worker_timeout": queue.stall_after,
    }
    if queues:
        options["queues"] = queues

    async def serve() -> None:
        async with qapp.open_async():
            if not await qapp.check_connection_async():
                msg = f"{app.store.url}: the queue tables are missing; run crm-bridge db upgrade first"
                raise ConfigError(msg)
            if on_ready is not None:
                on_ready()
            await qapp.run_worker_async(**options)

    asyncio.run(serve())


def defer_all(app: App, names: Iterable[str] | None = None) -> int:
    """Queue one run of every stream of the given jobs now (all scheduled jobs by
    default); streams already waiting are skipped. Returns how many were queued."""
    from procrastinate import exceptions

    queue = Queue(app)
    qapp = queue.procrastinate
    queued = 0
    with qapp.open():
        for job in names or [n for n in queue.streams if n in SCHEDULE]:
            for stream in queue.streams[job]:
                try:
                    queue.configured(job, stream).defer()
                    queued += 1
                except exceptions.AlreadyEnqueued:
                    continue
    return queued
