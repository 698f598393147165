"""Bindings: which local record is which remote record, per backend and model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.tables import BindingRow

__all__ = ["Binder"]


class Binder:
    """Binding lookups and writes for one backend inside one session.

    Bindings of a model are loaded once per binder (one query), so a page of records costs
    no query per reference.
    """

    def __init__(self, session: Session, backend: str) -> None:
        self.session, self.backend = session, backend
        self._by_remote: dict[str, dict[str, BindingRow]] = {}

    def _model(self, model: str) -> dict[str, BindingRow]:
        cached = self._by_remote.get(model)
        if cached is None:
            rows = self.session.scalars(
                select(BindingRow).where(BindingRow.backend == self.backend, BindingRow.model == model)
            )
            cached = self._by_remote[model] = {r.remote_id: r for r in rows}
        return cached

    def get(self, model: str, remote_id: str) -> BindingRow | None:
        return self._model(model).get(remote_id)

    def local_id(self, model: str, remote_id: str) -> int | None:
        row = self.get(model, remote_id)
        return row.local_id if row is not None else None

    def remote_id(self, model: str, local_id: int) -> str | None:
        return self.session.scalar(
            select(BindingRow.remote_id).where(
                BindingRow.backend == self.backend, BindingRow.model == model, BindingRow.local_id == local_id
            )
        )

    def bind(self, model: str, local_id: int, remote_id: str, *, version: str | None, content_hash: str, now: datetime) -> BindingRow:
        row = BindingRow(
            backend=self.backend,
            model=model,
            local_id=local_id,
            remote_id=remote_id,
            remote_version=version,
            content_hash=content_hash,
            state="active",
            imported_at=now,
        )
        self.session.add(row)
        self._model(model)[remote_id] = row
        return row

    @staticmethod
    def of_record(session: Session, model: str, local_id: int) -> list[BindingRow]:
        """Every backend's binding of one local record."""
        return list(
            session.scalars(select(BindingRow).where(BindingRow.model == model, BindingRow.local_id == local_id))
        )
