"""Shadow mode: the whole loop runs, and every write it would make is recorded, not sent.

A backend with ``write_back: shadow`` imports, plans and routes as usual; every decision
lands in the outbox as it would in live mode (a later decision merges into or supersedes
an earlier one exactly as there). Its dispatch pass calls ``shadow_pass`` instead of
``exporter.dispatch``: each pending row is turned into the values it would write, 1C is
read (reads are allowed) for the values it holds now, and one ``shadow_writes`` row per
remote field is appended — the field, what 1C holds, what would be sent, why. The outbox
row stays pending, untouched: switching to ``write_back: live`` hands the same rows to the
ordinary dispatcher, which sends the still-current decisions once (superseded ones are
withdrawn, values 1C already holds are not sent; idempotency keys and verified writes as
always).

The log is history: a row is recorded again only when what it would do changes (its
fields, or the remote version its record was last read at). What is *current* — and what
``crm-bridge shadow report`` shows — is, per record and remote field, the newest entry,
while its outbox row is still pending and the value differs from what 1C holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_bridge.errors import RemoteError
from crm_bridge.model import fields_from_json
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.engine import Store
from crm_bridge.store.records import ROWS, in_chunks
from crm_bridge.store.tables import core_table
from mapping.compile import CompiledMapping
from sync.binder import Binder
from sync.importer import Importer
from sync.merge import same
from sync.source import RemoteBackend, RemoteRecord
from sync.tables import BindingRow, OutboxRow, ShadowWriteRow

__all__ = ["CREATE_FIELD", "ShadowStats", "ShadowWrite", "current_writes", "in_shadow", "records_in_shadow", "shadow_line",
           "shadow_pass", "shadow_state"]

log = logging.getLogger(__name__)
CREATE_FIELD = "(new record)"  # the "field" of a create the backend would make
_ORIGINS = {  # a decision recorded without words: its origin, said for people
    "sync.merge": "merge: crm-bridge's change kept (changed here since both last agreed)",
    "conflicts.resolve": "conflict resolved: crm-bridge's value taken",
    "sla": "SLA plan", "sla.tick": "SLA plan", "sla.recalc": "SLA recalculation", "routing": "routing",
}


def in_shadow(config: Any, backend: str) -> bool:
    """True when `backend` is configured ``write_back: shadow`` (an unknown name: False)."""
    return getattr(config.backends.get(backend), "write_back", "live") == "shadow"


@dataclass
class ShadowStats:
    recorded: int = 0  # entries appended this pass (fields of rows whose content was new)
    would_write: int = 0  # of them, values 1C does not hold yet
    unchanged: int = 0  # of them, values 1C already holds
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShadowWrite:
    """One current would-be write, as the report shows it."""

    backend: str
    model: str
    number: str
    field: str
    holds: Any
    sends: Any
    why: str
    decided: datetime
    holds_shown: str
    sends_shown: str


def _digest(fields: Mapping[str, Any], version: str | None, operation: str) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(f"{operation}|{blob}|{version}".encode()).hexdigest()[:32]


@dataclass
class _Candidate:
    row_id: int
    model: str
    local_id: int
    operation: str
    remote_id: str | None


def _candidates(store: Store, backend: str, limit: int) -> list[_Candidate]:
    """Pending rows of `backend` whose present content (fields, remote version read) is not
    in the log yet, oldest first, at most `limit`."""
    found: list[_Candidate] = []
    last = 0
    with store.transaction() as session:
        while len(found) < limit:
            page = session.execute(
                select(OutboxRow.id, OutboxRow.model, OutboxRow.local_id, OutboxRow.operation, OutboxRow.fields,
                       BindingRow.remote_id, BindingRow.remote_version)
                .outerjoin(BindingRow, (BindingRow.backend == OutboxRow.backend) & (BindingRow.model == OutboxRow.model)
                           & (BindingRow.local_id == OutboxRow.local_id))
                .where(OutboxRow.backend == backend, OutboxRow.state == "pending", OutboxRow.id > last)
                .order_by(OutboxRow.id).limit(500)).all()
            if not page:
                break
            last = page[-1].id
            digests = {r.id: _digest(r.fields, r.remote_version, r.operation) for r in page}
            seen = {(o, d) for o, d in session.execute(select(ShadowWriteRow.outbox_id, ShadowWriteRow.digest).where(
                ShadowWriteRow.outbox_id.in_(list(digests))))}
            found += [_Candidate(r.id, r.model, r.local_id, r.operation, r.remote_id) for r in page
                      if (r.id, digests[r.id]) not in seen]
    return found[:limit]


def _read(importer: Importer | None, candidates: list[_Candidate], errors: list[str]) -> dict[str, RemoteRecord]:
    """What 1C holds now for the candidates' records (a read; changes found are imported)."""
    if importer is None:
        return {}
    by_model: dict[str, list[str]] = {}
    for c in candidates:
        if c.operation == "update" and c.remote_id and not c.remote_id.startswith("pending:") and c.model in importer.mappings:
            by_model.setdefault(c.model, []).append(c.remote_id)
    seen: dict[str, RemoteRecord] = {}
    for model, ids in by_model.items():
        for chunk in in_chunks(sorted(set(ids))):
            try:
                seen.update(importer.refresh(model, list(chunk)))
            except ValueError as exc:  # a key the remote cannot be asked for: those rows are left unread
                errors.append(f"{model}: {exc}")
    return seen


def shadow_pass(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], now: datetime, *,
                importer: Importer | None = None, limit: int = 500) -> ShadowStats:
    """Record what `backend`'s pending outbox rows would write, sending nothing.

    Reads the records concerned from the remote (through `importer`, as a live dispatch's
    re-read does). A remote that is down leaves the rows to the next pass. Rows stay
    pending; nothing of theirs (attempts, next attempt, claims) changes.
    """
    stats = ShadowStats()
    candidates = _candidates(store, backend.name, limit)
    if not candidates:
        return stats
    try:
        current = _read(importer, candidates, stats.errors)
    except RemoteError as exc:
        stats.errors.append(str(exc))
        log.warning("shadow: reading %s failed, the pass is left to the next one: %s", backend.name, exc,
                    extra={"event": "sync.shadow.read_failed", "backend": backend.name})
        return stats
    with store.transaction() as session, session.no_autoflush:
        ids = [c.row_id for c in candidates]
        rows = [r for chunk in in_chunks(ids) for r in session.scalars(
            select(OutboxRow).where(OutboxRow.id.in_(chunk), OutboxRow.state == "pending").order_by(OutboxRow.id))]
        pass_ = _Pass(session, Binder(session, backend.name), now, stats)
        pass_.seen_before = {o for chunk in in_chunks(ids) for o in session.scalars(
            select(ShadowWriteRow.outbox_id).where(ShadowWriteRow.outbox_id.in_(chunk)).distinct())}
        for model in {r.model for r in rows}:
            pass_.preload(model, [r.local_id for r in rows if r.model == model])
        for row in rows:
            _record(pass_, row, mappings, current)
        if pass_.entries:
            bulk_insert(session, core_table(ShadowWriteRow), pass_.entries)  # one executemany
    if stats.recorded:
        log.info("shadow: %s: %d would-be writes recorded (%d needed, %d already in the CRM)", backend.name,
                 stats.recorded, stats.would_write, stats.unchanged,
                 extra={"event": "sync.shadow.recorded", "backend": backend.name})
    return stats


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class _Pass:
    """What one recording pass shares: its session and binder, names looked up once, the
    outbox rows recorded before (a later decision merged in) and the entries to insert."""

    session: Session
    binder: Binder
    now: datetime
    stats: ShadowStats
    seen_before: set[int] = field(default_factory=set)
    names: dict[tuple[str, int], str | None] = field(default_factory=dict)
    versions: dict[tuple[str, int], tuple[str, str | None]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def preload(self, model: str, local_ids: list[int]) -> None:
        """The records' numbers (names) and bindings, a query per 500."""
        table = ROWS.get(model)
        column = getattr(table, "number", None) or getattr(table, "name", None)
        for chunk in in_chunks(sorted(set(local_ids))):
            if table is not None and column is not None:
                ident = getattr(table, "id")  # noqa: B009 - every record table has one; Base does not declare it
                found: dict[int, Any] = dict(self.session.execute(select(ident, column).where(ident.in_(chunk))).all())
                self.names.update({(model, i): (str(found[i]) if found.get(i) else None) for i in chunk})
            for local_id, remote_id, version in self.session.execute(
                    select(BindingRow.local_id, BindingRow.remote_id, BindingRow.remote_version).where(
                        BindingRow.backend == self.binder.backend, BindingRow.model == model,
                        BindingRow.local_id.in_(chunk))):
                self.versions[(model, local_id)] = (remote_id, version)

    def label(self, model: str | None, local_id: Any) -> str | None:
        """The name people know a record by (a request's number, an agent's name), or None."""
        if model is None or local_id is None or model not in ROWS:
            return None
        key = (model, int(local_id))
        if key not in self.names:
            record = self.session.get(ROWS[model], key[1])
            self.names[key] = str(getattr(record, "number", None) or getattr(record, "name", None) or "") or None
        return self.names[key]


def _record(pass_: _Pass, row: OutboxRow, mappings: Mapping[str, CompiledMapping],
            current: Mapping[str, RemoteRecord]) -> None:
    """Collect the entries of one outbox row: one per remote field it would write."""
    stats, binder = pass_.stats, pass_.binder
    remote_id, version = pass_.versions.get((row.model, row.local_id), (None, None))
    bound = remote_id is not None and not remote_id.startswith("pending:")
    # A row recorded before holds a later decision merged into it (the outbox keeps one
    # waiting row per record): that decision was taken since the last pass, not at `created`.
    base = {"backend": row.backend, "model": row.model, "local_id": row.local_id, "outbox_id": row.id,
            "digest": _digest(row.fields, version if bound else None, row.operation),
            "number": (pass_.label(row.model, row.local_id) or f"{row.model} {row.local_id}")[:100],
            "decided": pass_.now if row.id in pass_.seen_before else row.created, "recorded": pass_.now}
    if row.operation == "create":
        pass_.entries.append({**base, "field": CREATE_FIELD, "holds": {"value": None}, "sends": {"value": "create"},
                              "needed": True, "why": _ORIGINS.get(row.origin, row.origin)})
        stats.recorded, stats.would_write = stats.recorded + 1, stats.would_write + 1
        return
    mapping = mappings.get(row.model)
    if mapping is None or remote_id is None:
        stats.errors.append(f"outbox {row.id}: no mapping or binding for {row.model} {row.local_id}")
        return

    def resolve(ref_model: str, local_id: Any) -> str | None:
        return binder.remote_id(ref_model, int(local_id))

    try:
        values = mapping.to_remote(fields_from_json(row.model, row.fields), resolve)
    except (ValueError, TypeError, LookupError) as exc:  # the live dispatch parks such a row; here it is said
        stats.errors.append(f"outbox {row.id}: cannot be sent: {exc}")
        return
    remote = current.get(remote_id)
    said = row.why or {}
    canonical = {f.source: name for name, f in mapping.spec.fields.items() if f.source}
    for remote_field, value in values.items():
        name = canonical.get(remote_field, remote_field)
        ref = mapping.spec.fields[name].ref if name in mapping.spec.fields else None
        held = remote.values.get(remote_field) if remote is not None else None
        needed = remote is None or not same(value, held)
        holds: dict[str, Any] = {"value": _plain(held)} if remote is not None else {"value": None, "unread": True}
        if ref and held:
            holds["shown"] = pass_.label(ref, binder.local_id(ref, str(held)))
        sends: dict[str, Any] = {"value": _plain(value)}
        if ref:
            sends["shown"] = pass_.label(ref, row.fields.get(name))
        why = str(said.get(name) or _ORIGINS.get(row.origin, row.origin))
        pass_.entries.append({**base, "field": remote_field[:200], "holds": holds, "sends": sends, "needed": needed,
                              "why": why})
        stats.recorded += 1
        if needed:
            stats.would_write += 1
        else:
            stats.unchanged += 1


def current_writes(session: Session, *, backend: str | None = None, since: datetime | None = None) -> list[ShadowWrite]:
    """The writes the switch to live would make now: per record and remote field the newest
    entry, while its outbox row is pending and 1C does not hold the value. Oldest decision first."""
    newest = select(func.max(ShadowWriteRow.id)).group_by(
        ShadowWriteRow.backend, ShadowWriteRow.model, ShadowWriteRow.local_id, ShadowWriteRow.field)
    if backend is not None:
        newest = newest.where(ShadowWriteRow.backend == backend)
    query = (select(ShadowWriteRow).join(OutboxRow, OutboxRow.id == ShadowWriteRow.outbox_id)
             .where(ShadowWriteRow.id.in_(newest), OutboxRow.state == "pending", ShadowWriteRow.needed.is_(True))
             .order_by(ShadowWriteRow.decided, ShadowWriteRow.id))
    if since is not None:
        query = query.where(ShadowWriteRow.decided >= since)
    return [ShadowWrite(w.backend, w.model, w.number, w.field, w.holds.get("value"), w.sends.get("value"), w.why,
                        w.decided, _shown(w.holds), _shown(w.sends)) for w in session.scalars(query)]


def _shown(value: Mapping[str, Any]) -> str:
    if value.get("unread"):
        return "(not read)"
    if value.get("shown"):
        return str(value["shown"])
    return "—" if value.get("value") in (None, "") else str(value["value"])


def shadow_state(session: Session, config: Any, backend: str) -> dict[str, Any] | None:
    """What ``crm-bridge status`` says of a backend in shadow mode, None when it is live:
    ``{"write_back": "shadow", "would_write": N, "records": M, "since": first entry or None}``.
    One field for the status table; the command acting on it is ``crm-bridge shadow report``."""
    if not in_shadow(config, backend):
        return None
    writes = current_writes(session, backend=backend)
    since = session.scalar(select(func.min(ShadowWriteRow.recorded)).where(ShadowWriteRow.backend == backend))
    return {"write_back": "shadow", "would_write": len(writes), "records": len({(w.model, w.number) for w in writes}),
            "since": since, "command": f"crm-bridge shadow report --backend {backend}"}


def shadow_line(backend: str, shadow: Mapping[str, Any]) -> str:
    """The status line of a backend in shadow mode (`shadow` as ``shadow_state`` returns it)."""
    return (f"{backend}: SHADOW MODE (write_back: shadow) — nothing is written to the CRM; {shadow['would_write']} "
            f"write(s) to {shadow['records']} record(s) would be made — see `{shadow['command']}`")


def records_in_shadow(session: Session, config: Any, model: str, local_ids: list[int]) -> dict[int, str]:
    """Which of `local_ids` are bound to a backend in shadow mode: local id -> that backend.

    Registered as ``usage="shadow.records"``, so an addon that must hold back what concerns
    such records (notify: customer mail) asks without importing sync."""
    shadowed = [name for name in config.backends if in_shadow(config, name)]
    if not shadowed or not local_ids:
        return {}
    found: dict[int, str] = {}
    for chunk in in_chunks(sorted(set(local_ids))):
        found.update((lid, name) for lid, name in session.execute(select(BindingRow.local_id, BindingRow.backend).where(
            BindingRow.model == model, BindingRow.local_id.in_(chunk), BindingRow.backend.in_(shadowed))))
    return found
