"""The mass-delete guard: one ``max_delete_share`` for every way a record is deleted.

A deletion mark seen by an incremental pass, a record an exchange-plan package says is
gone and a record reconcile no longer finds all tombstone a binding (and mark the local
record deleted). A publication that lost its rights, a filter gone wrong or a mass
"mark for deletion" in 1C looks the same as hundreds of real deletions, so each path asks
here first: per backend and model, the deletions applied in the last ``WINDOW`` may not
exceed ``max_delete_share`` of the model's active bindings (at least ``FLOOR``, so a base
of 5 records can delete one). Over it the deletions are **held** — the records stay as
they were, the pass goes on and fails saying so — until an operator confirms with
``crm-bridge sync allow-deletes``, a one-time allowance the next pass spends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.store.records import in_chunks, update_record
from crm_bridge.store.tables import Base
from sync.tables import BindingRow

__all__ = ["FLOOR", "WINDOW", "DeletionRow", "allow", "held_message", "permit", "tombstone"]

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)  # the rolling window the share is counted over
FLOOR = 1  # deletions always allowed in a window, whatever the share of a small base


class DeletionRow(Base):
    """Deletions applied (``applied``) or allowed by an operator (``allowance``; ``count``
    empty: all that are held; ``used`` set once a pass spent it)."""

    __tablename__ = "deletions"
    __table_args__ = (Index("ix_deletions_model", "backend", "model", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))  # applied | allowance
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _share(config: Any, backend: str) -> float:
    return float(getattr(getattr(config, "backends", {}).get(backend), "max_delete_share", 0.1))


def held_message(backend: str, model: str, wanted: int, recent: int, active: int, share: float) -> str:
    """The refusal, with its numbers and the command that confirms it."""
    part = (wanted + recent) / active if active else 1.0
    earlier = f", {recent} already deleted in the last {WINDOW.total_seconds() / 3600:.0f} h" if recent else ""
    return (f"held {wanted} deletions of {model} ({round(part * 100)} % of {active}{earlier} > max_delete_share "
            f"{round(share * 100)} %); confirm with crm-bridge sync allow-deletes --backend {backend} --model {model}")


def permit(session: Session, config: Any, backend: str, model: str, wanted: int, now: datetime) -> str | None:
    """Decide whether `wanted` deletions of `model` may be applied now. Returns None and
    records them as applied (spending an operator's allowance if it took one), or the
    reason they are held. Call it in the transaction that applies them, or just before."""
    if wanted <= 0:
        return None
    active = int(session.scalar(select(func.count()).select_from(BindingRow).where(
        BindingRow.backend == backend, BindingRow.model == model, BindingRow.state == "active")) or 0)
    mine = (DeletionRow.backend == backend, DeletionRow.model == model)
    recent = int(session.scalar(select(func.coalesce(func.sum(DeletionRow.count), 0)).where(
        *mine, DeletionRow.kind == "applied", DeletionRow.at > now - WINDOW)) or 0)
    share = _share(config, backend)
    if recent + wanted > max(FLOOR, int(share * active)):
        allowance = session.scalars(select(DeletionRow).where(*mine, DeletionRow.kind == "allowance",
                                                              DeletionRow.used.is_(None)).order_by(DeletionRow.id)).first()
        if allowance is None or (allowance.count is not None and allowance.count < wanted):
            why = held_message(backend, model, wanted, recent, active, share)
            if allowance is not None:
                why += f" (the allowance of {allowance.count} is fewer; allow again with --count {wanted})"
            log.error("%s: %s", backend, why, extra={"event": "sync.deletes.held", "backend": backend})
            return why
        allowance.used = now
        log.warning("%s: %d deletions of %s applied as an operator allowed", backend, wanted, model,
                    extra={"event": "sync.deletes.allowed", "backend": backend})
    session.add(DeletionRow(backend=backend, model=model, kind="applied", count=wanted, at=now))
    return None


def allow(session: Session, backend: str, model: str, count: int | None, now: datetime) -> None:
    """Record a one-time allowance: the next pass applies up to `count` held deletions
    (None: all of them) of `model`, whatever the share."""
    session.add(DeletionRow(backend=backend, model=model, kind="allowance", count=count, at=now))


def tombstone(unit: Unit, backend: str, model: str, ids: Sequence[str], *, mark: bool) -> int:
    """Make the bindings of `ids` (records deleted outright in the CRM) tombstones, in the
    unit's transaction, and with `mark` mark their local records deleted (announced as an
    import's change). Unknown ids and tombstones change nothing; returns how many it
    tombstoned. Ask ``permit`` first."""
    session, count = unit.session, 0
    for chunk in in_chunks(ids):
        for binding in session.scalars(select(BindingRow).where(
                BindingRow.backend == backend, BindingRow.model == model, BindingRow.remote_id.in_(chunk))):
            if binding.state == "tombstone":
                continue
            binding.state, binding.imported_at = "tombstone", unit.now
            count += 1
            if mark and update_record(session, model, binding.local_id, {"deleted": True}):
                unit.publish(DomainEvent(f"{model}.imported", model, binding.local_id, f"remote:{backend}",
                                         {"created": False, "changed": ["deleted"], "before": {"deleted": False}}))
    return count
