"""Sync: bindings, checkpoints, incremental import and write-back through an outbox.

Registers the ``record.changed`` handler that turns engine decisions into outbox rows,
and the jobs ``sync.pull`` and ``sync.dispatch``.
"""

from __future__ import annotations

from crm_bridge.registry import Registry
from sync.engine import pull, push
from sync.outbox import enqueue, enqueue_create
from sync.shadow import records_in_shadow
from sync.source import RemoteBackend, RemoteRecord

__all__ = ["RemoteBackend", "RemoteRecord", "register"]


def register(registry: Registry) -> None:
    registry.add(enqueue, usage="event.handler", model="record.changed")
    registry.add(enqueue_create, usage="event.handler", model="record.created")
    registry.add(records_in_shadow, usage="shadow.records", name="sync")
    registry.add(pull, usage="job", name="sync.pull")
    registry.add(push, usage="job", name="sync.dispatch")
    from sync.metrics import SyncCollector
    from sync.reconcile import reconcile

    registry.add(SyncCollector, usage="metrics.collector", name="sync")

    registry.add(reconcile, usage="job", name="sync.reconcile")
    from sync.cli import conflicts_app, jobs_app  # typer only for the CLI
    from sync.status import sync_status

    registry.add(sync_status, usage="status.section", name="sync")
    registry.add(conflicts_app, usage="cli.group", name="conflicts")
    registry.add(jobs_app, usage="cli.group", name="jobs")
    from sync.quarantine_cli import quarantine_app

    registry.add(quarantine_app, usage="cli.group", name="quarantine")
    from sync.deletes_cli import sync_app
    from sync.shadow_cli import shadow_app

    registry.add(shadow_app, usage="cli.group", name="shadow")

    registry.add(sync_app, usage="cli.group", name="sync")
