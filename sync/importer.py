"""Import: remote records → canonical records, bindings, events and checkpoint, one
transaction per page.

Two ways to find what changed, chosen by the adapter:

* **version scan** (``scan`` + ``fetch``; 1C has no modified-at field): page through
  ``(key, version, deleted)`` stubs only, compare them with the bindings, then read in
  full just the records whose version differs;
* **full read** (``read``): page through whole records.

Either way a record the mapping's ``exclude`` matches is not imported (it gets no binding;
one bound before it matched is handled as deleted in the CRM), and a record whose version equals the stored one — including the version our own
write produced — is skipped before mapping, and an unchanged content hash only refreshes
the version. A reference to a record not imported yet imports that record first. The
checkpoint (the last key of the page) moves in the transaction that stored the page, so a
crash resumes at the first unsaved page and a retried page changes nothing twice. Pages
read ahead already when the store is ready for the next are stored as one (up to
``_BATCH`` records; ``read_ahead_batches``): one transaction, one checkpoint.

A model can be imported in **partitions** (``Partition``: a slice of the key space, from an
adapter offering ``key_ranges``), each its own stream with its own checkpoint, so several
workers import one model at once. Two partitions that both import a referenced record
race on its binding; the loser's page is stored once more in a fresh transaction, where
it finds the winner's binding.

A page is applied in bulk: new records are built first and inserted with one flush (one
multi-row INSERT per table), then bound, so a page of 1,000 new requests costs a handful
of statements, not thousands.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.orm import Session

from crm_bridge import progress
from crm_bridge.config import ConflictPolicy
from crm_bridge.errors import RecordSkipped
from crm_bridge.events import DomainEvent, EventBus
from crm_bridge.model import fields_of, fields_to_json, remote_from_json, remote_to_json
from crm_bridge.process import collector_paused
from crm_bridge.store.engine import Store
from crm_bridge.store.numbers import record_label
from crm_bridge.store.records import (
    ROWS,
    in_chunks,
    insert_records,
    new_record_values,
    rows_by_id,
    update_record,
    without_empty,
)
from mapping.compile import CompiledMapping
from sync.ahead import fetch_sliced, read_ahead, read_ahead_batches
from sync.binder import Binder, KnownBindings
from sync.checkpoint import load_checkpoint, save_checkpoint
from sync.conflict import queue_conflict
from sync.deletes import permit, tombstone
from sync.merge import merge, sent_back
from sync.outcome import ImportStats, clean_content_hash, content_hash, lost_race
from sync.ownership import say_restored
from sync.page import NewRecord, PageWork
from sync.partition import KeyRanges, Partition, slice_bounds, supports_key_ranges
from sync.quarantine import Unusable, fetch_addressable, hold, release, stage_of, storable
from sync.source import (
    RemoteBackend,
    RemoteRecord,
    RemoteStub,
    cursor_covers,
    supports_cursor,
    supports_version_scan,
)
from sync.tables import BindingRow
from sync.window import next_window

__all__ = ["ImportStats", "Importer", "KeyRanges", "Partition", "content_hash", "import_model", "supports_key_ranges"]
# KeyRanges, Partition and supports_key_ranges live in sync.partition; named here for callers of the importer.

log = logging.getLogger(__name__)
_MAX_REF_DEPTH = 3
# Records stored in one transaction at most when pages wait read already (``read_ahead_batches``).
_BATCH = 4000


class Importer:
    """Imports the mapped models of one backend."""

    def __init__(self, store: Store, bus: EventBus, config: Any, backend: RemoteBackend,
                 mappings: Mapping[str, CompiledMapping], now: datetime, *, known: KnownBindings | None = None) -> None:
        self.store, self.bus, self.config, self.backend = store, bus, config, backend
        self.mappings, self.now = mappings, now
        #: references found bound by earlier pages (of this model, or of the pass: ``known``)
        self.known = known if known is not None else KnownBindings()
        self._referenced = {ref for m in mappings.values() for _, ref in m.reference_sources()}
        #: every record refused so far, with why (a caller that must not let one go, the
        #: change feed, reads and clears it)
        self.refused: list[tuple[RemoteRecord, RecordSkipped]] = []
        #: new deletion marks met by this pass, by model: applied at its end if the
        #: mass-delete guard permits (``settle_deletes``), else left as they were
        self.deferred: dict[str, dict[str, RemoteRecord]] = {}
        self._applying: set[str] = set()  # models whose deferred deletions are being applied
        self._marking: dict[str, bool] = {}  # model -> whether an import sets its ``deleted`` field

    # -- one record -------------------------------------------------------------------
    def _resolver(self, page: PageWork, depth: int) -> Any:
        def resolve(ref_model: str, remote_id: Any) -> int | None:
            local = page.binder.local_id(ref_model, str(remote_id))
            if local is None and depth < _MAX_REF_DEPTH and ref_model in self.mappings and supports_version_scan(self.backend):
                # The referenced record is not here yet (created in 1C after our last pass
                # over its model): import it first, so the reference is never lost.
                try:
                    for rec in self.backend.fetch(self.mappings[ref_model].spec, [str(remote_id)]):
                        self._apply(page, self.mappings[ref_model], rec, depth + 1)
                except ValueError as exc:  # not a key the remote can be asked for (guid_literal)
                    msg = f"its {ref_model} reference {remote_id!r} cannot be looked up in {page.binder.backend}: {exc}"
                    raise Unusable(msg, stage="reference") from exc
                except RecordSkipped as exc:
                    msg = f"the {ref_model} {remote_id} it refers to is set aside: {exc}"
                    raise Unusable(msg, stage="reference") from exc
                local = page.binder.local_id(ref_model, str(remote_id))
            return local

        return resolve

    def _apply(self, page: PageWork, mapping: CompiledMapping, rec: RemoteRecord, depth: int = 0) -> None:
        model, binder, stats = mapping.spec.model, page.binder, page.stats
        if rec.invalid is not None:  # unreadable as the CRM's types say: refused, never stored from a guess
            raise Unusable(f"{model} {rec.id}: {rec.invalid}", stage="read")
        binding = binder.get(model, rec.id)
        correlation = rec.values.get(mapping.spec.correlation) if mapping.spec.correlation else None
        if binding is None and isinstance(correlation, str) and correlation.startswith("crm-bridge:"):
            binding = binder.claim(model, f"pending:{correlation}", rec.id, now=self.now)
        if mapping.spec.excluded(rec.values) is not None:  # not a record of the model (a service user)
            if binding is None or binding.state == "tombstone":
                stats.skipped += 1  # never bound: what the mapping excludes is not imported
                return
            rec = dataclasses.replace(rec, deleted=True)  # excluded since: as if deleted in the CRM
        if binding is not None and rec.version is not None and rec.version == binding.remote_version:
            stats.skipped += 1
            return
        if rec.deleted and binding is not None and binding.state == "active" and model not in self._applying:
            # A new deletion: counted with the pass's others before any is applied (``sync.deletes``)
            self.deferred.setdefault(model, {})[rec.id] = rec
            return
        # The fingerprint's one serialisation also tells that every text is storable as it is.
        digest = clean_content_hash(rec.values, version=mapping.spec.version)
        if digest is None:
            values, repaired = storable(rec.values)  # NUL, lone surrogates: stored as U+FFFD on both stores, noted
            if repaired:
                hold(page.session, binder.backend, model, rec.id, "store", (
                    f"text no store can hold (NUL or a lone UTF-16 surrogate) in {', '.join(repaired)} was stored with "
                    "U+FFFD in its place; correct the text in the CRM if it matters"), rec.values, self.now, imported=True)
                rec = dataclasses.replace(rec, values=values)
            else:
                page.passed.append((model, rec.id))
            digest = content_hash(rec.values, version=mapping.spec.version)
        else:
            page.passed.append((model, rec.id))
        if binding is not None and digest == binding.content_hash and (binding.state == "tombstone") == rec.deleted:
            binding.remote_version, binding.imported_at = rec.version, self.now
            stats.skipped += 1
            return
        resolve = self._resolver(page, depth)
        origin = f"remote:{binder.backend}"
        deleted = {"deleted": rec.deleted} if self._marks_deleted(model) else {}
        if binding is None:
            if rec.deleted:
                stats.skipped += 1
                return
            page.creates.append(self._new_record(mapping, rec, digest, resolve, deleted))
            if depth:  # a referenced record: the record that needs it resolves its id right away
                self._bind_created(page)
            return
        seen = mapping.reading_everything.to_canonical(rec.values, resolve, creating=False)
        current = page.session.get(ROWS[model], binding.local_id)
        if current is None:
            raise RecordSkipped(f"{model} {rec.id}: bound to local {binding.local_id}, which no longer exists",
                                remote_fix=False)
        local = {k: getattr(current, k) for k in seen if hasattr(current, k)}
        # A lossy value map (urgent and high both written as Высокая): the remote holding what
        # ours is written as still holds ours; reading it back must not lower it to high.
        seen = {k: local[k] if k in local and mapping.written_alike(k, local[k], v) else v for k, v in seen.items()}
        base = remote_from_json(model, binding.base) if binding.base else None
        result = merge(seen, local, base, mapping.owners, self._policy(model),
                       local_changed_at=getattr(current, "updated", None), remote_seen_at=self.now)
        taken = without_empty(model, result.take)  # an empty 1C value where the model needs one: the local stays
        try:
            changed = update_record(page.session, model, binding.local_id, {**taken, **deleted})
        except ValueError as exc:
            raise Unusable(f"{model} {rec.id}: {exc}", stage="convert") from exc
        # The base holds what both sides agree on: not what was sent or disputed, nor an
        # empty value the local record did not take (the next merge would send ours back).
        apart = set(result.send) | {c.field for c in result.conflicts} | (set(result.take) - set(taken))
        agreed = {k: v for k, v in seen.items() if k not in apart}
        binding.base = {**(binding.base or {}), **remote_to_json(model, agreed)}
        binding.remote_version, binding.content_hash, binding.imported_at = rec.version, digest, self.now
        binding.state = "tombstone" if rec.deleted else "active"
        for conflict in result.conflicts:
            queue_conflict(page.session, binding, conflict, self.now)
        for conflict in result.overridden:
            log.info("%s: %s changed on both sides; settled by policy",
                     record_label(page.session, model, binding.local_id), conflict.field,
                     extra={"event": "sync.merge.settled", "backend": binder.backend, "model": model,
                            "local_id": binding.local_id, "remote_id": rec.id})
        say_restored(binding, getattr(current, "number", None), seen, result.send, mapping.owners)
        if result.send:
            page.unit.publish(DomainEvent("record.changed", model, binding.local_id, "sync.merge", {"fields": result.send}))
        if not changed:
            stats.skipped += 1
            return
        stats.updated += 1
        data = {"created": False, "changed": sorted(changed), "before": fields_to_json(model, {k: v[0] for k, v in changed.items()})}
        page.unit.publish(DomainEvent(f"{model}.imported", model, binding.local_id, origin, data))

    def _new_record(self, mapping: CompiledMapping, rec: RemoteRecord, digest: str, resolve: Any,
                    deleted: dict[str, bool]) -> NewRecord:
        """A record 1C holds and the store does not: its row, validated once, and its merge base.

        Every dict here is built once per record of a first import (all of its records are
        new), so each is built from the last without copying: the row's fields go to the
        validation as they are when the model has no ``deleted`` to set."""
        model = mapping.spec.model
        # Read once, every field: what 1C holds of all of them is the merge base; the
        # record takes those the mapping reads at creation.
        everything = mapping.reading_everything.to_canonical(rec.values, resolve, creating=True)
        at_creation = mapping.read_at_creation
        fields = {k: v for k, v in everything.items() if k in at_creation}
        # validated once: the row's values, and the JSON of those the base keeps as read
        given, shown = ({**fields, **deleted}, fields.keys() - deleted.keys()) if deleted else (fields, fields.keys())
        try:
            values, read = new_record_values(model, given, shown)
        except ValueError as exc:
            raise Unusable(f"{model} {rec.id}: {exc}", stage="convert") from exc
        # the base: what both sides hold (every field: a mapping may later merge one both
        # ways); not an empty 1C value where the record took the model's default
        kept = without_empty(model, everything)
        # the rest (fields crm-bridge owns) as JSON; an empty one is null as it is. `read`
        # names fields of `kept` only, so the base keeps `kept`'s order and values but those.
        rest = {k: v for k, v in kept.items() if v is not None and k not in read} if len(read) < len(kept) else {}
        held = {**kept, **read, **remote_to_json(model, rest)} if rest else {**kept, **read}
        # 1C may already hold values in fields crm-bridge owns (written by an earlier
        # store, or typed by a user): the new record's own (none yet) go back like a merge's
        owned = {k: everything[k] for k in mapping.owned_locally if k in everything}
        return NewRecord(model, values, rec, digest, held, sorted(fields), sent_back(owned, values) if owned else {})

    def _bind_created(self, page: PageWork) -> None:
        """Insert the page's new records (one executemany per model, no row object each),
        bind them and announce them, in the order they were read."""
        if not page.creates:
            return
        creates, page.creates = page.creates, []
        page.session.flush()  # the page's updates first, as they were decided
        origin = f"remote:{page.binder.backend}"
        ids: dict[int, int] = {}  # id(create) -> local id
        for model in dict.fromkeys(c.model for c in creates):  # a page's own model and the records it references
            made = [c for c in creates if c.model == model]
            local = insert_records(page.session, model, [c.values for c in made])
            ids.update((id(c), i) for c, i in zip(made, local, strict=True))
            page.binder.bind_many(model, ((i, c.rec.id, c.rec.version, c.digest, c.base)
                                          for c, i in zip(made, local, strict=True)), now=self.now)
            if model in self._referenced:  # the requests of this pass will point at them
                page.on_commit.append((model, {c.rec.id: i for c, i in zip(made, local, strict=True)}))
        for c in creates:
            page.stats.created += 1
            if c.send:
                page.unit.publish(DomainEvent("record.changed", c.model, ids[id(c)], "sync.merge", {"fields": c.send}))
            # `values`: the row as inserted, so the history needs not read it back (``crm_bridge.history``)
            page.unit.publish(DomainEvent(f"{c.model}.imported", c.model, ids[id(c)], origin,
                                          {"created": True, "changed": c.changed, "values": c.values}))

    def _backend_config(self) -> Any:
        return getattr(self.config, "backends", {}).get(self.backend.name)

    def _marks_deletes(self) -> bool:
        return getattr(self._backend_config(), "on_delete", "mark") == "mark"

    def _marks_deleted(self, model: str) -> bool:
        """Whether an import sets `model`'s ``deleted`` field (asked per record: answered once)."""
        marks = self._marking.get(model)
        if marks is None:
            marks = self._marking[model] = "deleted" in fields_of(model) and self._marks_deletes()
        return marks

    def _policy(self, model: str) -> ConflictPolicy:
        policies: dict[str, ConflictPolicy] = getattr(self._backend_config(), "conflicts", {}) or {}
        return policies.get(model, "remote_wins")

    # -- one page ---------------------------------------------------------------------
    def store_page(self, mapping: CompiledMapping, records: Iterable[RemoteRecord], stream: str,
                    last_key: str | None, stats: ImportStats, stubs: list[RemoteStub] | None = None,
                    *, depth: int = 0, checkpoint: dict[str, Any] | None = None) -> None:
        """Store one page in one transaction. What 1C is asked — which stubs changed, the
        records they name, the records those reference — is read before it opens, so the
        write lock (SQLite) and the row locks (PostgreSQL) are held for the writes only."""
        if stubs is not None:
            records = self._changed(mapping, stubs, stats)
        # Every worker writes in key order: two pages that meet on a binding wait, never
        # deadlock. A key read twice (a page boundary moved under a concurrent write) counts once.
        records = sorted({r.id: r for r in records}.values(), key=lambda r: r.id)
        bound = self._import_references(mapping, records, stats, depth) if depth < _MAX_REF_DEPTH else {}
        counts = (stats.created, stats.updated, stats.skipped, stats.failed, len(stats.errors), len(self.refused))
        try:
            self._store_records(mapping, records, stream, last_key, stats, checkpoint, bound)
        except StatementError as exc:
            if not isinstance(exc, DBAPIError) or not lost_race(exc):
                if isinstance(exc, OperationalError | InterfaceError):
                    raise  # the database is away, not one record refused
                stats.created, stats.updated, stats.skipped, stats.failed = counts[:4]
                del stats.errors[counts[4]:]
                del self.refused[counts[5]:]
                self._store_each(mapping, records, stream, last_key, stats, checkpoint, bound, exc)
                return
            # Another worker's transaction bound the same referenced record first (or a
            # deadlock): store the page once more, now seeing the winner's rows.
            log.info("%s: a page lost a race with another worker; storing it again", mapping.spec.model,
                     extra={"event": "sync.import.race", "backend": self.backend.name})
            stats.created, stats.updated, stats.skipped, stats.failed = counts[:4]
            del stats.errors[counts[4]:]
            del self.refused[counts[5]:]
            self._store_records(mapping, records, stream, last_key, stats, checkpoint, bound)

    def _store_records(self, mapping: CompiledMapping, records: list[RemoteRecord], stream: str,
                       last_key: str | None, stats: ImportStats, checkpoint: dict[str, Any] | None,
                       bound: Mapping[str, Mapping[str, int]]) -> None:
        """`bound`: references already found bound (``_import_references``), not looked up again."""
        model = mapping.spec.model
        with collector_paused(), self.store.transaction() as session:
            page = PageWork(session, self.bus.unit(session, self.now, self.config), Binder(session, self.backend.name), stats)
            page.binder.preload(model, (r.id for r in records))
            for ref, ids in bound.items():
                page.binder.seed_ids(ref, ids)
            for source, ref in mapping.reference_sources():
                page.binder.preload_ids(ref, (r.values[source] for r in records if r.values.get(source)))
            known = [b.local_id for r in records if (b := page.binder.get(model, r.id)) is not None]
            page.rows = list(rows_by_id(session, ROWS[model], known).values())  # no query per updated record
            refused: set[str] = set()
            with session.no_autoflush:  # new rows go in together, in _bind_created
                for rec in records:
                    try:
                        try:
                            self._apply(page, mapping, rec)
                        except (ValueError, TypeError, LookupError, ArithmeticError) as exc:  # a transform on a value
                            raise Unusable(f"{model} {rec.id}: {type(exc).__name__}: {exc}", stage="convert") from exc
                    except RecordSkipped as exc:
                        self._refuse(session, model, rec, exc, stats)
                        refused.add(rec.id)
            self._bind_created(page)
            release(session, self.backend.name, model, [key for m, key in page.passed if m == model and key not in refused])
            if checkpoint is not None:
                save_checkpoint(session, self.backend.name, stream, checkpoint)
            elif last_key is not None:
                save_checkpoint(session, self.backend.name, stream, {"after": last_key})
        for bound_model, ids in page.on_commit:
            self.known.add(bound_model, ids)

    def _refuse(self, session: Session, model: str, rec: RemoteRecord, exc: RecordSkipped, stats: ImportStats) -> None:
        """Count a refused record and set it aside in the quarantine (logged there, once per reason)."""
        stats.failed += 1
        stats.errors.append(str(exc))
        self.refused.append((rec, exc))
        hold(session, self.backend.name, model, rec.id, stage_of(exc), str(exc), rec.values, self.now)

    def _store_each(self, mapping: CompiledMapping, records: list[RemoteRecord], stream: str, last_key: str | None,
                    stats: ImportStats, checkpoint: dict[str, Any] | None, bound: Mapping[str, Mapping[str, int]],
                    failure: StatementError) -> None:
        """The store refused the page (a value it cannot hold, a constraint): store it one
        record a transaction, set aside the records it refuses, then move the checkpoint."""
        model = mapping.spec.model
        log.info("%s: the store refused a page (%s); storing it one record at a time", model,
                 str(failure.orig or failure).splitlines()[0], extra={"event": "sync.import.single", "backend": self.backend.name})
        for rec in records:
            counts = (stats.created, stats.updated, stats.skipped, len(stats.errors))
            try:
                self._store_records(mapping, [rec], stream, None, stats, None, bound)
            except StatementError as exc:
                if isinstance(exc, OperationalError | InterfaceError) or isinstance(exc, DBAPIError) and lost_race(exc):
                    raise
                stats.created, stats.updated, stats.skipped = counts[:3]
                del stats.errors[counts[3]:]
                why = str(exc.orig or exc).splitlines()[0]
                with self.store.transaction() as session:
                    self._refuse(session, model, rec, Unusable(f"{model} {rec.id}: the store refused it: {why}",
                                                               stage="store"), stats)
        if checkpoint is not None or last_key is not None:
            with self.store.transaction() as session:
                save_checkpoint(session, self.backend.name, stream, checkpoint if checkpoint is not None else {"after": last_key})

    def _changed(self, mapping: CompiledMapping, stubs: list[RemoteStub], stats: ImportStats) -> list[RemoteRecord]:
        """The records of the stubs whose version differs from their binding's, read in full."""
        backend, name = self.backend, self.backend.name
        if not supports_version_scan(backend):
            msg = f"{name}: stubs given but the backend cannot fetch by key"
            raise TypeError(msg)
        model = mapping.spec.model
        with self.store.transaction() as session:
            known = Binder(session, name).versions(model, [s.id for s in stubs])
        changed = [s.id for s in stubs if (s.id not in known and not s.deleted)
                   or (s.id in known and (s.version is None or s.version != known[s.id]))]
        stats.skipped += len(stubs) - len(changed)
        stats.fetched += len(changed)
        return backend.fetch(mapping.spec, changed) if changed else []

    def _import_references(self, mapping: CompiledMapping, records: list[RemoteRecord], stats: ImportStats,
                           depth: int) -> dict[str, dict[str, int]]:
        """Import, each in its own short transaction, the referenced records not bound yet
        (a customer created in 1C since its model's last pass), fetched in batches. Returns
        the references found bound already, by model (remote id → local id).

        Partitions of a model import these concurrently; in their own transactions, in key
        order, they cost a wait at worst, where inside the long page transactions they
        deadlocked. Records imported meanwhile by another worker are skipped as unchanged.
        """
        backend, name = self.backend, self.backend.name
        if not records or not supports_version_scan(backend):
            return {}
        wanted: dict[str, set[str]] = {}
        for source, ref_model in mapping.reference_sources():
            if ref_model in self.mappings:
                wanted.setdefault(ref_model, set()).update(
                    str(r.values[source]) for r in records if r.values.get(source) and r.invalid is None)
        if not any(wanted.values()):
            return {}
        missing: dict[str, list[str]] = {}
        unknown: dict[str, set[str]] = {}
        for ref_model, keys in wanted.items():
            known = self.known.of(ref_model)
            unknown[ref_model] = {k for k in keys if k not in known}
        if any(unknown.values()):
            with self.store.transaction() as session:
                binder = Binder(session, name)
                for ref_model, keys in unknown.items():
                    binder.preload_ids(ref_model, keys)
                    missing[ref_model] = sorted(k for k in keys if binder.local_id(ref_model, k) is None)
                    self.known.add(ref_model, binder.bound_ids(ref_model))
        found: dict[str, dict[str, int]] = {}
        for ref_model, keys in wanted.items():
            known = self.known.of(ref_model)
            found[ref_model] = {k: known[k] for k in keys if k in known}
        for ref_model, absent in missing.items():
            refs = fetch_addressable(backend, self.mappings[ref_model].spec, absent) if absent else []
            if refs:
                self.store_page(self.mappings[ref_model], refs, f"{ref_model}:references", None, stats, depth=depth + 1)
        return found

    def refresh(self, model: str, remote_ids: list[str], *, concurrency: int = 1) -> dict[str, RemoteRecord]:
        """Read `remote_ids` now and import what changed (no checkpoint moves); returns them by id.

        With `concurrency` above 1 the ids are read in that many slices at once (the
        write-back's re-read of a batch: a 20 ms remote answers some ten keys a request,
        so 500 keys read one request after another cost a second); stored together."""
        backend = self.backend
        if not supports_version_scan(backend):
            return {}
        records = fetch_sliced(backend, self.mappings[model].spec, remote_ids, concurrency)
        stats = ImportStats(read=len(records), fetched=len(records))
        self.store_page(self.mappings[model], records, f"{model}:refresh", None, stats)
        return {r.id: r for r in records}

    def tombstone(self, session: Session, model: str, ids: Sequence[str], stats: ImportStats) -> int:
        """Bindings of records deleted outright in the CRM become tombstones (the local record
        is marked deleted when the backend's ``on_delete`` is ``mark``); unknown ids and
        tombstones change nothing. Returns how many it tombstoned."""
        mark = self._marks_deletes() and "deleted" in fields_of(model)
        count = tombstone(self.bus.unit(session, self.now, self.config), self.backend.name, model, ids, mark=mark)
        stats.read += len(ids)
        stats.updated += count
        stats.skipped += len(ids) - count
        return count

    def settle_deletes(self, model: str, stats: ImportStats, gone: Sequence[str] = ()) -> int | None:
        """Apply the deletion marks this pass deferred for `model`, and tombstone the
        records in `gone` (deleted outright), if the mass-delete guard permits them all
        (``sync.deletes.permit``). Held, they stay as they were and ``stats.held`` says
        why; returns None then, else how many were deleted."""
        marks = self.deferred.pop(model, {})
        name = self.backend.name
        with self.store.transaction() as session:
            outright = [key for chunk in in_chunks(list(gone)) for key in session.scalars(select(BindingRow.remote_id).where(
                BindingRow.backend == name, BindingRow.model == model, BindingRow.state == "active",
                BindingRow.remote_id.in_(chunk)))]
            why = permit(session, self.config, name, model, len(marks) + len(outright), self.now)
            if why is None and outright:
                self.tombstone(session, model, outright, stats)
        if why is not None:
            stats.held = why
            return None
        if marks:
            self._applying.add(model)
            try:
                self.store_page(self.mappings[model], list(marks.values()), f"{model}:deletes", None, stats)
            finally:
                self._applying.discard(model)
        return len(marks) + len(outright)

    # -- one model --------------------------------------------------------------------
    def run_window(self, model: str) -> ImportStats:
        """One window of a cursor source. The cursor moves in the transaction that stores the
        window's last page (or alone, when the window holds nothing); a crash mid-window
        reads the whole window again, which the version/hash skip makes free."""
        backend, mapping, name = self.backend, self.mappings[model], self.backend.name
        if not supports_cursor(backend):
            msg = f"{name}: not a cursor source"
            raise TypeError(msg)
        stream, stats = f"{model}:{mapping.spec.entity}:cursor", ImportStats()
        with self.store.transaction() as session:
            raw = load_checkpoint(session, name, stream).get("cursor")
        window = next_window(datetime.fromisoformat(raw) if raw else None, self.now, overlap=backend.cursor_overlap,
                             lag=backend.cursor_lag, start=datetime(1970, 1, 1, tzinfo=UTC))
        moved = {"cursor": window.until.isoformat()}
        pending: list[RemoteRecord] | None = None
        for records in backend.changed(mapping.spec, window.since, window.until):
            stats.read += len(records)
            if pending is not None:  # hold one page back: the last one carries the cursor
                self.store_page(mapping, pending, stream, None, stats)
            pending = records
        self.store_page(mapping, pending or [], stream, None, stats, checkpoint=moved)
        if self.settle_deletes(model, stats) is None:  # held: the window is read again next pass
            with self.store.transaction() as session:
                save_checkpoint(session, name, stream, {"cursor": raw} if raw else {})
        return stats

    def key_range(self, model: str, partition: Partition) -> tuple[str | None, str | None]:
        """The ``(start, before)`` keys of `partition` of `model` (``partition.slice_bounds``)."""
        return slice_bounds(self.store, self.backend, self.mappings[model].spec, partition)

    def run(self, model: str, *, partition: Partition | None = None) -> ImportStats:
        """One pass over a mapped model, or over one partition of it; resumes after the
        last stored page of that stream."""
        mapping = self.mappings[model]
        if supports_cursor(self.backend) and cursor_covers(self.backend, mapping.spec):
            return self.run_window(model)
        stream = f"{model}:{mapping.spec.entity}"
        bounds: dict[str, str | None] = {}
        if partition is not None and partition.count > 1:
            stream += f"#{partition.name}"
            start, before = self.key_range(model, partition)
            bounds = {"start": start, "before": before}
        stats = ImportStats()
        with self.store.transaction() as session:
            point = load_checkpoint(session, self.backend.name, stream)
        after, backend = point.get("after"), self.backend
        ranged = backend if bounds and supports_key_ranges(backend) else None
        # The first pass of a stream reads whole pages: a version listing would only say
        # that every record is new, and then cost a keyed read per batch of them.
        if supports_version_scan(backend) and "last_pass" in point:
            scan = ranged.scan(mapping.spec, after=after, **bounds) if ranged else backend.scan(mapping.spec, after=after)
            for stubs in read_ahead(scan):
                stats.read += len(stubs)
                self.store_page(mapping, (), stream, stubs[-1].id if stubs else None, stats, stubs)
        else:
            read = ranged.read(mapping.spec, after=after, **bounds) if ranged else backend.read(mapping.spec, after=after)
            with progress.task(f"import {backend.name} {model}", unit="records",  # the first pass: long
                               key=(backend.name, mapping.spec.entity)) as bar:  # 1C's count, once it pages, is the total
                for pages in read_ahead_batches(read, limit=_BATCH, size=len):
                    records = [r for page in pages for r in page]
                    stats.read += len(records)
                    self.store_page(mapping, records, stream, records[-1].id if records else None, stats)
                    bar.advance(len(records))
        # Held deletions keep their bindings' old versions: the next pass reads them again.
        self.settle_deletes(model, stats)
        with self.store.transaction() as session:
            save_checkpoint(session, self.backend.name, stream, {"after": None, "last_pass": self.now.isoformat()})
        log.info("%s: %d read, %d fetched, %d created, %d updated", model, stats.read, stats.fetched, stats.created,
                 stats.updated, extra={"event": "sync.import.pass", "backend": self.backend.name})
        return stats


def import_model(store: Store, bus: EventBus, config: Any, backend: RemoteBackend,
                 mappings: Mapping[str, CompiledMapping], model: str, now: datetime,
                 *, partition: Partition | None = None, known: KnownBindings | None = None) -> ImportStats:
    """Import one model (or one partition of it) of one backend (see ``Importer``);
    `known`: bindings the pass found already (shared by the models of one pass)."""
    return Importer(store, bus, config, backend, mappings, now, known=known).run(model, partition=partition)
