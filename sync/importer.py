"""Import: remote pages → canonical records, bindings, events and checkpoint, one
transaction per page.

A record whose remote version equals the one we hold (including the version our own
write produced) is skipped without mapping; a record whose content hash is unchanged
only refreshes its version. The checkpoint (the last key of the page) moves in the same
transaction as the records it covers, so a crash resumes at the first unsaved page.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_bridge.errors import RecordSkipped
from crm_bridge.events import DomainEvent, EventBus
from crm_bridge.model import MODELS
from crm_bridge.store.engine import Store
from crm_bridge.store.records import create_record, update_record
from mapping.compile import CompiledMapping
from sync.binder import Binder
from sync.checkpoint import load_checkpoint, save_checkpoint
from sync.source import RemoteBackend, RemoteRecord

__all__ = ["ImportStats", "content_hash", "import_model"]

log = logging.getLogger(__name__)


@dataclass
class ImportStats:
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ImportStats) -> None:
        self.read += other.read
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.failed += other.failed
        self.errors += other.errors


def content_hash(values: dict[str, Any]) -> str:
    blob = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _apply(binder: Binder, mapping: CompiledMapping, rec: RemoteRecord, bus_unit: Any, stats: ImportStats, now: datetime) -> None:
    model = mapping.spec.model
    binding = binder.get(model, rec.id)
    if binding is not None and rec.version is not None and rec.version == binding.remote_version:
        stats.skipped += 1
        return
    digest = content_hash(rec.values)
    if binding is not None and digest == binding.content_hash:
        binding.remote_version, binding.imported_at = rec.version, now
        stats.skipped += 1
        return

    def resolve(ref_model: str, remote_id: Any) -> int | None:
        return binder.local_id(ref_model, str(remote_id))

    fields = mapping.to_canonical(rec.values, resolve, creating=binding is None)
    if "deleted" in MODELS[model].model_fields:
        fields["deleted"] = rec.deleted
    if binding is None:
        if rec.deleted:
            stats.skipped += 1
            return
        try:
            local_id = create_record(binder.session, model, fields)
        except ValueError as exc:
            raise RecordSkipped(f"{model} {rec.id}: {exc}") from exc
        binder.bind(model, local_id, rec.id, version=rec.version, content_hash=digest, now=now)
        stats.created += 1
        bus_unit.publish(DomainEvent(f"{model}.imported", model, local_id, f"remote:{binder.backend}", {"created": True, "changed": sorted(fields)}))
        return
    try:
        changed = update_record(binder.session, model, binding.local_id, fields)
    except ValueError as exc:
        raise RecordSkipped(f"{model} {rec.id}: {exc}") from exc
    binding.remote_version, binding.content_hash, binding.imported_at = rec.version, digest, now
    binding.state = "tombstone" if rec.deleted else "active"
    if changed:
        stats.updated += 1
        data = {"created": False, "changed": sorted(changed), "before": {k: _jsonable(v[0]) for k, v in changed.items()}}
        bus_unit.publish(DomainEvent(f"{model}.imported", model, binding.local_id, f"remote:{binder.backend}", data))
    else:
        stats.skipped += 1


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def import_model(
    store: Store, bus: EventBus, config: Any, backend: RemoteBackend, mapping: CompiledMapping, now: datetime
) -> ImportStats:
    """One full pass over a mapped entity; resumes after the last stored page."""
    stream = f"{mapping.spec.model}:{mapping.spec.entity}"
    stats = ImportStats()
    with store.transaction() as session:
        after = load_checkpoint(session, backend.name, stream).get("after")
    for page in backend.read(mapping.spec, after=after):
        page_stats = ImportStats(read=len(page))
        with store.transaction() as session:
            unit = bus.unit(session, now, config)
            binder = Binder(session, backend.name)
            binder.preload(mapping.spec.model, (rec.id for rec in page))
            for source, ref in mapping.reference_sources():
                binder.preload(ref, (rec.values[source] for rec in page if rec.values.get(source)))
            for rec in page:
                try:
                    with session.begin_nested():
                        _apply(binder, mapping, rec, unit, page_stats, now)
                except RecordSkipped as exc:
                    page_stats.failed += 1
                    page_stats.errors.append(str(exc))
                    log.warning("skipped %s", exc, extra={"event": "sync.import.skipped", "backend": backend.name})
            if page:
                save_checkpoint(session, backend.name, stream, {"after": page[-1].id})
        stats.add(page_stats)
        log.info(
            "imported page of %d %s records", len(page), mapping.spec.model,
            extra={"event": "sync.import.page", "backend": backend.name},
        )
    with store.transaction() as session:
        save_checkpoint(session, backend.name, stream, {"after": None, "last_pass": now.isoformat()})
    return stats
