"""Checkpoints: where a stream's next read starts, stored with the records it covers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.tables import CheckpointRow

__all__ = ["load_checkpoint", "save_checkpoint"]


def load_checkpoint(session: Session, backend: str, stream: str) -> dict[str, Any]:
    row = session.scalar(select(CheckpointRow).where(CheckpointRow.backend == backend, CheckpointRow.stream == stream))
    return dict(row.value) if row is not None else {}


def save_checkpoint(session: Session, backend: str, stream: str, value: dict[str, Any]) -> None:
    """Call inside the transaction that stored the records the new value covers."""
    row = session.scalar(select(CheckpointRow).where(CheckpointRow.backend == backend, CheckpointRow.stream == stream))
    if row is None:
        session.add(CheckpointRow(backend=backend, stream=stream, value=value))
    else:
        row.value = value
