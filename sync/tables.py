"""Sync tables: bindings, checkpoints, the outbox and sync-run records.

Constraints live in the database, not only in code: one binding per remote record and per
local record and backend; one outbox row per identity key, so a decision taken twice is
sent once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base, utcnow

__all__ = ["BindingRow", "CheckpointRow", "ConflictRow", "OutboxRow", "ShadowWriteRow", "SyncRunRow"]


class BindingRow(Base):
    """Local record ↔ remote record, with what we last saw and wrote."""

    __tablename__ = "bindings"
    __table_args__ = (
        UniqueConstraint("backend", "model", "remote_id", name="uq_bindings_remote"),
        # led by the record: the outbox finds every backend's binding of a changed record
        UniqueConstraint("model", "local_id", "backend", name="uq_bindings_local"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(50))
    local_id: Mapped[int] = mapped_column(Integer)
    remote_id: Mapped[str] = mapped_column(String(200))
    remote_version: Mapped[str | None] = mapped_column(String(200))
    written_version: Mapped[str | None] = mapped_column(String(200))  # the version our own write produced
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # The canonical values both sides last agreed on (after an import or our own write):
    # the base of three-way merges.
    base: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="active")  # active | tombstone
    imported_at: Mapped[datetime | None]
    exported_at: Mapped[datetime | None]


class CheckpointRow(Base):
    """Where the next incremental read of a stream starts; moved with the records it covers."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("backend", "stream", name="uq_checkpoints_stream"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    stream: Mapped[str] = mapped_column(String(100))
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxRow(Base):
    """A change to write to a remote, recorded in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("identity_key", name="uq_outbox_identity"),
        Index("ix_outbox_pending", "state", "next_attempt_at"),
        Index("ix_outbox_record", "model", "local_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(50))
    local_id: Mapped[int] = mapped_column(Integer)
    identity_key: Mapped[str] = mapped_column(String(300))
    operation: Mapped[str] = mapped_column(String(10), default="update")  # update | create
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # canonical field -> JSON value
    origin: Mapped[str] = mapped_column(String(100))
    # canonical field -> the decision in words ("SLA policy P1: resolution due"), when the
    # deciding engine said it: the shadow report's "why"
    why: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sent | parked | withdrawn
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # A dispatcher sending the row right now (``sync.claim``): its token and when the claim
    # lapses. The remote is called between two short transactions, never inside one.
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claim_expires: Mapped[datetime | None]


class ConflictRow(Base):
    """A field changed on both sides since they last agreed, waiting for a person."""

    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_open", "state", "backend"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(50))
    local_id: Mapped[int] = mapped_column(Integer)
    remote_id: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(100))
    base: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"value": ...} so None is representable
    local: Mapped[dict[str, Any]] = mapped_column(JSON)
    remote: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="open")  # open | resolved
    resolution: Mapped[str | None] = mapped_column(String(20))  # local | remote
    created: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class SyncRunRow(Base):
    """One pass of one job over one backend, with its counts."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_last", "backend", "kind", "stream", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # import | export | reconcile
    # The stream under the queue ("ticket 3/8", "shard 2/8"); None for a whole pass.
    stream: Mapped[str | None] = mapped_column(String(100), nullable=True)
    started: Mapped[datetime] = mapped_column(default=utcnow)
    finished: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | ok | failed
    read: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class ShadowWriteRow(Base):
    """A write a backend in shadow mode would have made: one row per outbox row, content
    and remote field, appended when first seen (history); the newest row of a record's
    field whose outbox row is still pending is what the switch to live would send."""

    __tablename__ = "shadow_writes"
    __table_args__ = (
        Index("ix_shadow_writes_field", "backend", "model", "local_id", "field", "id"),
        Index("ix_shadow_writes_outbox", "outbox_id", "digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(50))
    local_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(100))  # the CRM's number (or name) people know the record by
    outbox_id: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))  # the outbox row's fields when recorded: a change is recorded anew
    field: Mapped[str] = mapped_column(String(200))  # the remote field, as the CRM names it
    holds: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"value": ...}: what the CRM held when read
    sends: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"value": ...}: what would be sent
    needed: Mapped[bool] = mapped_column(Boolean)  # False: the CRM already holds it, nothing would be written
    why: Mapped[str] = mapped_column(Text)
    decided: Mapped[datetime]  # when the decision was taken (the outbox row's creation)
    recorded: Mapped[datetime]
