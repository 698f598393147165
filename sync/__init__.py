"""Sync: bindings, checkpoints, incremental import and write-back through an outbox.

Registers the ``record.changed`` handler that turns engine decisions into outbox rows,
and the jobs ``sync.pull`` and ``sync.dispatch``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, Registry, lazy_exports

if TYPE_CHECKING:
    from sync.source import RemoteBackend, RemoteRecord

__all__ = ["RemoteBackend", "RemoteRecord", "register"]
__getattr__ = lazy_exports(__name__, {"RemoteBackend": "sync.source", "RemoteRecord": "sync.source"})


def register(registry: Registry) -> None:
    """The engine is registered by name (``Lazy``): imported when a job or handler runs."""
    registry.add(Lazy("sync.outbox:enqueue"), usage="event.handler", model="record.changed")
    registry.add(Lazy("sync.outbox:enqueue_create"), usage="event.handler", model="record.created")
    registry.add(Lazy("sync.shadow:records_in_shadow"), usage="shadow.records", name="sync")
    registry.add(Lazy("sync.status:sync_status"), usage="status.section", name="sync")
    registry.add(Lazy("sync.engine:pull"), usage="job", name="sync.pull")
    registry.add(Lazy("sync.engine:push"), usage="job", name="sync.dispatch")
    registry.add(Lazy("sync.metrics:SyncCollector"), usage="metrics.collector", name="sync")
    registry.add(Lazy("sync.reconcile:reconcile"), usage="job", name="sync.reconcile")
    registry.add(Lazy("sync.cli:conflicts_app", summary="Fields changed on both sides, waiting for a decision."),
                 usage="cli.group", name="conflicts")
    registry.add(Lazy("sync.cli:jobs_app", summary="Remote writes waiting in the outbox, retried or parked."),
                 usage="cli.group", name="jobs")
    registry.add(Lazy("sync.quarantine_cli:quarantine_app", summary="Remote records set aside, with the reason and the raw value."),
                 usage="cli.group", name="quarantine")
    registry.add(Lazy("sync.deletes_cli:sync_app", summary="Sync operations that need a person's word."),
                 usage="cli.group", name="sync")
    registry.add(Lazy("sync.shadow_cli:shadow_app", summary="What a backend in shadow mode would write, and why."),
                 usage="cli.group", name="shadow")
