"""``crm-bridge worker``: one scale-out worker on the PostgreSQL queue (``crm_bridge.queue``)."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_bridge.cli.common import console, open_app

__all__ = ["worker"]


def worker(
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="Jobs this process runs at once, each in its own thread.")] = 1,
    queues: Annotated[str | None, typer.Option(
        "--queues", help="Comma-separated queues to serve (default: all). Queues are named after the jobs: "
                         "sync.pull, sync.dispatch, sla.tick, routing.tick, sync.reconcile; 'queue' holds the stalled-job task.",
    )] = None,
    name: Annotated[str | None, typer.Option("--name", help="This worker's name in logs and the queue (default: host:pid).")] = None,
    heartbeat: Annotated[float, typer.Option(
        "--heartbeat", min=0.2, help="Seconds between heartbeats. The jobs of a worker silent for 3 heartbeats "
                                     "(killed, machine lost) are run again by the others.")] = 10.0,
) -> None:
    """Run a scale-out worker: the sync jobs from the queue in the PostgreSQL store.

    Start any number, on any number of machines, with the same configuration.
    They share one periodic schedule (schedule.* in the configuration), and each
    stream (a partition of a model's import, a shard of the outbox) runs on one
    worker at a time. The store is migrated first. Ctrl-C or SIGTERM stops the
    worker after its running jobs finish. The embedded mode is crm-bridge run.

    Example: crm-bridge -c crm-bridge.yaml worker --concurrency 2 --name node-1
    """
    from crm_bridge.queue import prepare_store, require_postgres, run_worker

    bridge = open_app()
    try:
        require_postgres(bridge)  # SQLite: say so before touching the store
        prepare_store(bridge)
        wanted = [q.strip() for q in queues.split(",") if q.strip()] if queues else None

        def ready() -> None:
            who = f"worker {name}" if name else "worker"
            serving = ", ".join(wanted) if wanted else "all queues"
            console.print(f"{who} serving {serving} from {bridge.store.url}; Ctrl-C stops it")

        run_worker(bridge, concurrency=concurrency, queues=wanted, name=name, heartbeat=heartbeat, on_ready=ready)
        console.print("worker stopped cleanly")
    finally:
        bridge.close()
