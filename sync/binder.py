"""Bindings: which local record is which remote record, per backend and model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.records import among, in_chunks
from crm_bridge.store.tables import core_table
from sync.tables import BindingRow

__all__ = ["Binder", "KnownBindings"]


class KnownBindings:
    """Bindings one pass found already, remote id → local id per model, across its pages'
    transactions: a binding is never deleted and its local id never changes, so the
    references of the next page need no look-up of the customers the last page met.
    Keeps at most `limit` ids (some 40 MB at the default), then stops adding."""

    def __init__(self, limit: int = 300_000) -> None:
        self.limit, self._size = limit, 0
        self._ids: dict[str, dict[str, int]] = {}

    def of(self, model: str) -> Mapping[str, int]:
        return self._ids.get(model, {})

    def add(self, model: str, found: Mapping[str, int]) -> None:
        ids = self._ids.setdefault(model, {})
        for remote_id, local_id in found.items():
            if self._size >= self.limit:
                return
            if remote_id not in ids:
                ids[remote_id] = local_id
                self._size += 1


class Binder:
    """Binding lookups and writes for one backend inside one session.

    ``preload(model)`` loads a model's bindings in one query, so a page of records costs no
    query per reference; without it, lookups are single indexed queries.
    """

    def __init__(self, session: Session, backend: str) -> None:
        self.session, self.backend = session, backend
        self._by_remote: dict[str, dict[str, BindingRow | None]] = {}
        self._local_ids: dict[str, dict[str, int | None]] = {}  # references: the local id is all they need
        self._by_local: dict[str, dict[int, BindingRow]] = {}
        self._remote_ids: dict[tuple[str, int], str] = {}  # remote_id's answers for bound records  # by ``preload_local``: the rows a batch writes

    def preload_local(self, model: str, local_ids: Iterable[int]) -> None:
        """Load the bindings of `local_ids` (one query per 500), for ``remote_id`` and ``get``
        to answer from: an outbox batch's records, or the records its rows refer to."""
        cache = self._by_local.setdefault(model, {})
        wanted = sorted({int(i) for i in local_ids} - cache.keys())
        for chunk in in_chunks(wanted):
            for row in self.session.scalars(select(BindingRow).where(
                    BindingRow.backend == self.backend, BindingRow.model == model, BindingRow.local_id.in_(chunk))):
                cache[row.local_id] = row
                self._by_remote.setdefault(model, {})[row.remote_id] = row

    def preload_ids(self, model: str, remote_ids: Iterable[str]) -> None:
        """Load the local ids of `remote_ids` (two columns, one query per 500): what resolving
        references needs, without binding objects. Unknown ids are cached as absent."""
        cache = self._local_ids.setdefault(model, {})
        wanted = sorted({str(r) for r in remote_ids} - cache.keys())
        for chunk in in_chunks(wanted):
            found = dict(self.session.execute(select(BindingRow.remote_id, BindingRow.local_id).where(
                BindingRow.backend == self.backend, BindingRow.model == model,
                among(self.session, BindingRow.remote_id, chunk))).all())
            for rid in chunk:
                cache[rid] = found.get(rid)

    def bound_ids(self, model: str) -> dict[str, int]:
        """remote id → local id of every binding of `model` this binder has looked up."""
        return {rid: lid for rid, lid in self._local_ids.get(model, {}).items() if lid is not None}

    def seed_ids(self, model: str, bound: Mapping[str, int]) -> None:
        """Take bindings another session found as known (a binding's local id never changes)."""
        self._local_ids.setdefault(model, {}).update(bound)

    def preload(self, model: str, remote_ids: Iterable[str]) -> None:
        """Load the bindings of `remote_ids` (one query per 500); unknown ids are cached as absent.

        The ids go in as one parameter (``among``): an ``IN`` of 500 bound one by one cost
        SQLAlchemy more than the lookup itself — a page of 4,000 new records, 3-4 ms a chunk."""
        cache = self._by_remote.setdefault(model, {})
        wanted = sorted({str(r) for r in remote_ids} - cache.keys())
        for chunk in in_chunks(wanted):
            rows = self.session.scalars(
                select(BindingRow).where(
                    BindingRow.backend == self.backend, BindingRow.model == model,
                    among(self.session, BindingRow.remote_id, chunk),
                )
            )
            found = {r.remote_id: r for r in rows}
            for rid in chunk:
                cache[rid] = found.get(rid)

    def versions(self, model: str, remote_ids: list[str]) -> dict[str, str | None]:
        """remote id → the remote version last imported, for the bound ones among `remote_ids`.

        Two columns, no row objects: what a version scan compares, thousands at a time.
        """
        found: dict[str, str | None] = {}
        for chunk in in_chunks(remote_ids):
            found.update((remote_id, version) for remote_id, version in self.session.execute(
                select(BindingRow.remote_id, BindingRow.remote_version).where(
                    BindingRow.backend == self.backend, BindingRow.model == model,
                    among(self.session, BindingRow.remote_id, chunk))))
        return found

    def get(self, model: str, remote_id: str) -> BindingRow | None:
        cached = self._by_remote.get(model)
        if cached is not None and remote_id in cached:
            return cached[remote_id]
        return self.session.scalar(
            select(BindingRow).where(
                BindingRow.backend == self.backend, BindingRow.model == model, BindingRow.remote_id == remote_id
            )
        )

    def local_id(self, model: str, remote_id: str) -> int | None:
        rows = self._by_remote.get(model, {})
        if remote_id not in rows and remote_id in self._local_ids.get(model, {}):
            return self._local_ids[model][remote_id]  # by preload_ids (None: not bound) or bind_many
        row = self.get(model, remote_id)  # a binding object, preloaded or read now
        return row.local_id if row is not None else None

    def remote_id(self, model: str, local_id: int) -> str | None:
        loaded = self._by_local.get(model, {}).get(local_id)
        if loaded is not None:
            return loaded.remote_id
        known = self._remote_ids.get((model, local_id))
        if known is not None:
            return known
        found = self.session.scalar(
            select(BindingRow.remote_id).where(
                BindingRow.backend == self.backend, BindingRow.model == model, BindingRow.local_id == local_id
            )
        )
        if found is not None and not found.startswith("pending:"):  # a bound record's remote id never changes
            self._remote_ids[(model, local_id)] = found
        return found

    def bind_many(self, model: str, new: Iterable[tuple[int, str, str | None, str, dict[str, Any] | None]],
                  *, now: datetime) -> int:
        """Bind new records: ``(local_id, remote_id, version, content_hash, base)`` each, in one
        ``executemany`` (no binding object per record: a first import binds every record it
        reads). Later lookups of these remote ids in this session see the new bindings."""
        bound = list(new)
        if not bound:
            return 0
        bulk_insert(self.session, core_table(BindingRow), [
            {"backend": self.backend, "model": model, "local_id": local_id, "remote_id": remote_id,
             "remote_version": version, "content_hash": digest, "base": base, "state": "active", "imported_at": now}
            for local_id, remote_id, version, digest, base in bound])
        cached, ids = self._by_remote.setdefault(model, {}), self._local_ids.setdefault(model, {})
        for local_id, remote_id, *_ in bound:
            cached.pop(remote_id, None)  # preloaded as absent: `get` now reads the new row
            ids[remote_id] = local_id
        return len(bound)

    def claim(self, model: str, pending_id: str, remote_id: str, *, now: datetime) -> BindingRow | None:
        """Bind a record created here (binding still ``pending:<key>``) to the remote record
        that carries its key: the import met it before the exporter heard back from the create."""
        row = self.session.scalar(select(BindingRow).where(
            BindingRow.backend == self.backend, BindingRow.model == model, BindingRow.remote_id == pending_id))
        if row is None:
            return None
        row.remote_id, row.state, row.exported_at = remote_id, "active", now
        self._by_remote.setdefault(model, {})[remote_id] = row
        return row

    @staticmethod
    def of_record(session: Session, model: str, local_id: int) -> list[BindingRow]:
        """Every backend's binding of one local record."""
        return list(
            session.scalars(select(BindingRow).where(BindingRow.model == model, BindingRow.local_id == local_id))
        )
