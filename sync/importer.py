"""Import: remote records → canonical records, bindings, events and checkpoint, one
transaction per page.

Two ways to find what changed, chosen by the adapter:

* **version scan** (``scan`` + ``fetch``; 1C has no modified-at field): page through
  ``(key, version, deleted)`` stubs only, compare them with the bindings, then read in
  full just the records whose version differs;
* **full read** (``read``): page through whole records.

Either way a record whose version equals the stored one — including the version our own
write produced — is skipped before mapping, and an unchanged content hash only refreshes
the version. A reference to a record not imported yet imports that record first. The
checkpoint (the last key of the page) moves in the transaction that stored the page, so a
crash resumes at the first unsaved page and a retried page changes nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.config import ConflictPolicy
from crm_bridge.errors import RecordSkipped
from crm_bridge.events import DomainEvent, EventBus, Unit
from crm_bridge.model import MODELS, fields_from_json, fields_to_json
from crm_bridge.store.engine import Store
from crm_bridge.store.records import ROWS, create_record, update_record
from mapping.compile import CompiledMapping, compile_mapping
from sync.binder import Binder
from sync.checkpoint import load_checkpoint, save_checkpoint
from sync.merge import Conflict, merge
from sync.source import RemoteBackend, RemoteRecord, RemoteStub, supports_version_scan
from sync.tables import BindingRow, ConflictRow, OutboxRow

__all__ = ["ImportStats", "Importer", "content_hash", "import_model"]

log = logging.getLogger(__name__)
_MAX_REF_DEPTH = 3


@dataclass
class ImportStats:
    read: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ImportStats) -> None:
        for name in ("read", "fetched", "created", "updated", "skipped", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


def content_hash(values: Mapping[str, Any]) -> str:
    blob = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass
class _Page:
    """What one page's transaction works with."""

    session: Session
    unit: Unit
    binder: Binder
    stats: ImportStats


class Importer:
    """Imports the mapped models of one backend."""

    def __init__(self, store: Store, bus: EventBus, config: Any, backend: RemoteBackend,
                 mappings: Mapping[str, CompiledMapping], now: datetime) -> None:
        self.store, self.bus, self.config, self.backend = store, bus, config, backend
        self.mappings, self.now = mappings, now
        self._full: dict[int, CompiledMapping] = {}

    # -- one record -------------------------------------------------------------------
    def _resolver(self, page: _Page, depth: int) -> Any:
        def resolve(ref_model: str, remote_id: Any) -> int | None:
            local = page.binder.local_id(ref_model, str(remote_id))
            if local is None and depth < _MAX_REF_DEPTH and ref_model in self.mappings and supports_version_scan(self.backend):
                # The referenced record is not here yet (created in 1C after our last pass
                # over its model): import it first, so the reference is never lost.
                for rec in self.backend.fetch(self.mappings[ref_model].spec, [str(remote_id)]):
                    self._apply(page, self.mappings[ref_model], rec, depth + 1)
                local = page.binder.local_id(ref_model, str(remote_id))
            return local

        return resolve

    def _apply(self, page: _Page, mapping: CompiledMapping, rec: RemoteRecord, depth: int = 0) -> None:
        model, binder, stats = mapping.spec.model, page.binder, page.stats
        binding = binder.get(model, rec.id)
        if binding is not None and rec.version is not None and rec.version == binding.remote_version:
            stats.skipped += 1
            return
        digest = content_hash(rec.values)
        if binding is not None and digest == binding.content_hash and (binding.state == "tombstone") == rec.deleted:
            binding.remote_version, binding.imported_at = rec.version, self.now
            stats.skipped += 1
            return
        resolve = self._resolver(page, depth)
        origin = f"remote:{binder.backend}"
        deleted = {"deleted": rec.deleted} if "deleted" in MODELS[model].model_fields and self._marks_deletes() else {}
        if binding is None:
            if rec.deleted:
                stats.skipped += 1
                return
            fields = mapping.to_canonical(rec.values, resolve, creating=True)
            try:
                local_id = create_record(page.session, model, {**fields, **deleted})
            except ValueError as exc:
                raise RecordSkipped(f"{model} {rec.id}: {exc}") from exc
            row = binder.bind(model, local_id, rec.id, version=rec.version, content_hash=digest, now=self.now)
            row.base = fields_to_json(model, self._everything(mapping).to_canonical(rec.values, resolve, creating=True))
            stats.created += 1
            page.unit.publish(DomainEvent(f"{model}.imported", model, local_id, origin, {"created": True, "changed": sorted(fields)}))
            return
        seen = self._everything(mapping).to_canonical(rec.values, resolve, creating=False)
        current = page.session.get(ROWS[model], binding.local_id)
        if current is None:
            raise RecordSkipped(f"{model} {rec.id}: bound to local {binding.local_id}, which no longer exists")
        local = {k: getattr(current, k) for k in seen if hasattr(current, k)}
        base = fields_from_json(model, binding.base) if binding.base else None
        result = merge(seen, local, base, self._owners(mapping), self._policy(model),
                       local_changed_at=getattr(current, "updated", None), remote_seen_at=self.now)
        try:
            changed = update_record(page.session, model, binding.local_id, {**result.take, **deleted})
        except ValueError as exc:
            raise RecordSkipped(f"{model} {rec.id}: {exc}") from exc
        agreed = {k: v for k, v in seen.items() if k not in result.send and k not in {c.field for c in result.conflicts}}
        binding.base = {**(binding.base or {}), **fields_to_json(model, agreed)}
        binding.remote_version, binding.content_hash, binding.imported_at = rec.version, digest, self.now
        binding.state = "tombstone" if rec.deleted else "active"
        for conflict in result.conflicts:
            self._queue_conflict(page, binding, conflict)
        for conflict in result.overridden:
            log.info("%s %s: %s changed on both sides; settled by policy", model, rec.id, conflict.field,
                     extra={"event": "sync.merge.settled", "backend": binder.backend})
        if result.send:
            page.unit.publish(DomainEvent("record.changed", model, binding.local_id, "sync.merge", {"fields": result.send}))
        if not changed:
            stats.skipped += 1
            return
        stats.updated += 1
        data = {"created": False, "changed": sorted(changed), "before": {k: _jsonable(v[0]) for k, v in changed.items()}}
        page.unit.publish(DomainEvent(f"{model}.imported", model, binding.local_id, origin, data))

    def _everything(self, mapping: CompiledMapping) -> CompiledMapping:
        """The mapping read in full: every field, whoever owns it (to see remote values of local fields)."""
        key = id(mapping)
        if key not in self._full:
            spec = mapping.spec
            fields = {k: f.model_copy(update={"owner": "remote", "only_create": False}) for k, f in spec.fields.items()}
            self._full[key] = compile_mapping(spec.model_copy(update={"fields": fields}))
        return self._full[key]

    @staticmethod
    def _owners(mapping: CompiledMapping) -> dict[str, str]:
        return {k: f.owner for k, f in mapping.spec.fields.items()}

    def _backend_config(self) -> Any:
        return getattr(self.config, "backends", {}).get(self.backend.name)

    def _marks_deletes(self) -> bool:
        return getattr(self._backend_config(), "on_delete", "mark") == "mark"

    def _policy(self, model: str) -> ConflictPolicy:
        policies: dict[str, ConflictPolicy] = getattr(self._backend_config(), "conflicts", {}) or {}
        return policies.get(model, "remote_wins")

    def _queue_conflict(self, page: _Page, binding: BindingRow, conflict: Conflict) -> None:
        model = binding.model
        values = {k: fields_to_json(model, {conflict.field: v})[conflict.field]
                  for k, v in (("base", conflict.base), ("local", conflict.local), ("remote", conflict.remote))}
        open_row = page.session.scalar(select(ConflictRow).where(
            ConflictRow.backend == binding.backend, ConflictRow.model == model, ConflictRow.local_id == binding.local_id,
            ConflictRow.field == conflict.field, ConflictRow.state == "open"))
        if open_row is not None:
            open_row.remote = {"value": values["remote"]}  # the newest remote value waits for the decision
            return
        page.session.add(ConflictRow(
            backend=binding.backend, model=model, local_id=binding.local_id, remote_id=binding.remote_id,
            field=conflict.field, base={"value": values["base"]}, local={"value": values["local"]},
            remote={"value": values["remote"]}, created=self.now,
        ))
        for pending in page.session.scalars(select(OutboxRow).where(
                OutboxRow.backend == binding.backend, OutboxRow.model == model,
                OutboxRow.local_id == binding.local_id, OutboxRow.state == "pending")):
            if conflict.field in pending.fields:  # nothing is sent until a person decides
                pending.fields = {k: v for k, v in pending.fields.items() if k != conflict.field}
                if not pending.fields:
                    pending.state, pending.last_error = "withdrawn", f"conflict on {conflict.field}"
        log.warning("%s %s: %s changed on both sides; queued for a decision", model, binding.remote_id, conflict.field,
                    extra={"event": "sync.conflict.queued", "backend": binding.backend})

    # -- one page ---------------------------------------------------------------------
    def _store_page(self, mapping: CompiledMapping, records: Iterable[RemoteRecord], stream: str,
                    last_key: str | None, stats: ImportStats, stubs: list[RemoteStub] | None = None) -> None:
        with self.store.transaction() as session:
            page = _Page(session, self.bus.unit(session, self.now, self.config), Binder(session, self.backend.name), stats)
            if stubs is not None:
                backend = self.backend
                if not supports_version_scan(backend):
                    msg = f"{backend.name}: stubs given but the backend cannot fetch by key"
                    raise TypeError(msg)
                page.binder.preload(mapping.spec.model, (s.id for s in stubs))
                changed = [s.id for s in stubs if self._stale(page.binder, mapping.spec.model, s)]
                stats.skipped += len(stubs) - len(changed)
                records = backend.fetch(mapping.spec, changed) if changed else []
                stats.fetched += len(changed)
            records = list(records)
            if stubs is None:
                page.binder.preload(mapping.spec.model, (r.id for r in records))
            for source, ref in mapping.reference_sources():
                page.binder.preload(ref, (r.values[source] for r in records if r.values.get(source)))
            for rec in records:
                try:
                    with session.begin_nested():
                        self._apply(page, mapping, rec)
                except RecordSkipped as exc:
                    stats.failed += 1
                    stats.errors.append(str(exc))
                    log.warning("skipped %s", exc, extra={"event": "sync.import.skipped", "backend": self.backend.name})
            if last_key is not None:
                save_checkpoint(session, self.backend.name, stream, {"after": last_key})

    @staticmethod
    def _stale(binder: Binder, model: str, stub: RemoteStub) -> bool:
        binding = binder.get(model, stub.id)
        if binding is None:
            return not stub.deleted
        return stub.version is None or stub.version != binding.remote_version

    def refresh(self, model: str, remote_ids: list[str]) -> dict[str, RemoteRecord]:
        """Read `remote_ids` now and import what changed (no checkpoint moves); returns them by id."""
        backend = self.backend
        if not supports_version_scan(backend):
            return {}
        records = backend.fetch(self.mappings[model].spec, remote_ids)
        stats = ImportStats(read=len(records), fetched=len(records))
        self._store_page(self.mappings[model], records, f"{model}:refresh", None, stats)
        return {r.id: r for r in records}

    # -- one model --------------------------------------------------------------------
    def run(self, model: str) -> ImportStats:
        """One pass over a mapped model; resumes after the last stored page."""
        mapping = self.mappings[model]
        stream = f"{model}:{mapping.spec.entity}"
        stats = ImportStats()
        with self.store.transaction() as session:
            after = load_checkpoint(session, self.backend.name, stream).get("after")
        if supports_version_scan(self.backend):
            for stubs in self.backend.scan(mapping.spec, after=after):
                stats.read += len(stubs)
                self._store_page(mapping, (), stream, stubs[-1].id if stubs else None, stats, stubs)
        else:
            for records in self.backend.read(mapping.spec, after=after):
                stats.read += len(records)
                self._store_page(mapping, records, stream, records[-1].id if records else None, stats)
        with self.store.transaction() as session:
            save_checkpoint(session, self.backend.name, stream, {"after": None, "last_pass": self.now.isoformat()})
        log.info("%s: %d read, %d fetched, %d created, %d updated", model, stats.read, stats.fetched, stats.created,
                 stats.updated, extra={"event": "sync.import.pass", "backend": self.backend.name})
        return stats


def import_model(store: Store, bus: EventBus, config: Any, backend: RemoteBackend,
                 mappings: Mapping[str, CompiledMapping], model: str, now: datetime) -> ImportStats:
    """Import one model of one backend (see ``Importer``)."""
    return Importer(store, bus, config, backend, mappings, now).run(model)
