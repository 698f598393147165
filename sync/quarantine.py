"""The quarantine: remote records set aside with the reason, so one bad record never stops
a page, a pass or the write-back.

A record that cannot be **read** (not of its declared types, text that is not UTF-8),
**converted** (a value its canonical model refuses), **stored** (the database refuses
it), **referenced** (a reference that cannot be looked up) or **written** (a key the
remote cannot address) gets one row here per (backend, model, remote key, stage): the
reason and the raw value (cut to ``RAW_KEPT`` characters), first and last seen, and how
many times. The rest of its page is stored and its checkpoint moves; the record itself is
read again whenever it changes in the CRM, or at once with ``crm-bridge quarantine retry``,
and leaves the quarantine the first time it passes.

A **note** (``imported`` true) records a repair, not a refusal: text PostgreSQL cannot
hold (NUL, a lone UTF-16 surrogate, which 1C's UTF-16 strings can carry) is stored with
U+FFFD in their place on both stores, and the note says where. A record quarantined again
for the same reason is logged once, not on every pass; the count says how often.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm_bridge.errors import RecordSkipped
from crm_bridge.store.numbers import NOUNS
from crm_bridge.store.records import in_chunks
from crm_bridge.store.tables import Base
from mapping.spec import MappingSpec
from sync.source import RemoteRecord, VersionScanning
from sync.stages import IMPORT_STAGES, STAGES, Stage

__all__ = ["RAW_KEPT", "STAGES", "QuarantineRow", "Stage", "Unusable", "fetch_addressable", "hold", "number_in", "release", "stage_of",
           "storable"]

log = logging.getLogger(__name__)

RAW_KEPT = 8000  # characters of the raw record kept: enough to see the bad value, never a whole payload
REPLACEMENT = "\ufffd"
# NUL (PostgreSQL text cannot hold it) and lone UTF-16 surrogates (no encoding can)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Keys whose values are never kept in the raw value, whatever the CRM named them
# Stable event names (dashboards match them): a refused import keeps the importer's own.
_EVENTS = {"read": "sync.import.skipped", "convert": "sync.import.skipped", "store": "sync.import.skipped",
           "reference": "sync.import.skipped", "write": "sync.export.unsendable", "note": "sync.import.repaired"}
_SECRET = re.compile(r"pass|secret|token|пароль", re.IGNORECASE)


class Unusable(RecordSkipped):
    """One record set aside at `stage` (see the module docstring); its page goes on."""

    def __init__(self, message: str, *, stage: Stage, remote_fix: bool = True) -> None:
        super().__init__(message, remote_fix=remote_fix)
        self.stage: Stage = stage


def stage_of(exc: RecordSkipped) -> Stage:
    """The stage a refusal happened at (a plain ``RecordSkipped``: converting it)."""
    return exc.stage if isinstance(exc, Unusable) else "convert"


class QuarantineRow(Base):
    """One remote record set aside at one stage (or imported repaired: ``imported``)."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("backend", "model", "remote_id", "stage", name="uq_quarantine_record"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(50))
    remote_id: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(20))  # read | convert | store | reference | write
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    imported: Mapped[bool] = mapped_column(Boolean, default=False)  # a note: stored repaired
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)


def _clean(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def raw_text(values: Mapping[str, Any] | str | None) -> str | None:
    """The raw value as kept: JSON of the record's values (secret-named keys left out),
    storable, at most ``RAW_KEPT`` characters."""
    if values is None:
        return None
    if not isinstance(values, str):
        shown = {k: ("***" if _SECRET.search(str(k)) else v) for k, v in values.items()}
        values = json.dumps(shown, ensure_ascii=False, default=str)
    values = _clean(values)
    return values if len(values) <= RAW_KEPT else values[:RAW_KEPT] + f"… ({len(values) - RAW_KEPT} more characters)"


_NUMBER = re.compile(r'"(?:Number|Номер|number)": "([^"]+)"')


def number_in(raw: str | None) -> str | None:
    """The CRM's number in a record's raw value as kept here (1C's ``Number``/``Номер``),
    or None: a record set aside was often never stored, so only 1C's own text names it."""
    match = _NUMBER.search(raw or "")
    return match.group(1).strip() or None if match else None


def hold(session: Session, backend: str, model: str, remote_id: str, stage: Stage, reason: str,
         raw: Mapping[str, Any] | str | None, now: datetime, *, imported: bool = False) -> QuarantineRow:
    """Put (or keep) a record in the quarantine, in `session`'s transaction. Logged the first
    time and when the reason changes (``sync.import.skipped``, ``sync.export.unsendable``,
    ``sync.import.repaired``); otherwise only counted."""
    reason, remote_id = _clean(reason), _clean(remote_id)[:200]
    row = session.scalar(select(QuarantineRow).where(
        QuarantineRow.backend == backend, QuarantineRow.model == model, QuarantineRow.remote_id == remote_id,
        QuarantineRow.stage == stage))
    told = row is None or row.reason != reason
    if row is None:
        row = QuarantineRow(backend=backend, model=model, remote_id=remote_id, stage=stage, reason=reason,
                            raw=raw_text(raw), imported=imported, first_seen=now, last_seen=now, count=1)
        session.add(row)
    else:
        row.reason, row.raw, row.imported, row.last_seen = reason, raw_text(raw), imported, now
        row.count += 1
    if told:
        level = logging.INFO if imported else logging.WARNING
        number = number_in(row.raw)  # the CRM's number when 1C sent one: what people search for
        who = f"{NOUNS.get(model, model)} {number}" if number else f"{model} {remote_id}"
        log.log(level, "%s %s: %s %s", backend, who, "stored repaired:" if imported else f"quarantined ({stage}):",
                reason, extra={"event": _EVENTS["note" if imported else stage], "backend": backend, "model": model,
                               "remote_id": remote_id, "number": number})
    return row


def release(session: Session, backend: str, model: str, remote_ids: Iterable[str],
            stages: Iterable[Stage] = IMPORT_STAGES) -> int:
    """Take records that passed out of the quarantine (at `stages`); returns how many rows left."""
    stages = list(stages)
    if session.scalar(select(QuarantineRow.id).where(  # mostly none: one look, not a DELETE per 500 keys
            QuarantineRow.backend == backend, QuarantineRow.model == model, QuarantineRow.stage.in_(stages)).limit(1)) is None:
        return 0
    gone = 0
    for chunk in in_chunks(list(remote_ids)):
        result = session.execute(delete(QuarantineRow).where(
            QuarantineRow.backend == backend, QuarantineRow.model == model, QuarantineRow.remote_id.in_(chunk),
            QuarantineRow.stage.in_(stages)))
        gone += int(getattr(result, "rowcount", 0) or 0)
    return gone


def storable(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`values` with every text storable on both stores: NUL and lone surrogates replaced
    by U+FFFD, in nested rows too (a tabular section). Returns the values and the fields
    repaired (empty: nothing changed, `values` returned as a copy)."""
    repaired: list[str] = []

    def fix(value: Any, where: str) -> Any:
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                repaired.append(where)
                return _clean(value)
            return value
        if isinstance(value, list):
            return [fix(item, f"{where}[{n}]") for n, item in enumerate(value, start=1)]
        if isinstance(value, dict):
            return {k: fix(v, f"{where}.{k}") for k, v in value.items()}
        return value

    return {k: fix(v, k) for k, v in values.items()}, repaired


def fetch_addressable(backend: VersionScanning, spec: MappingSpec, keys: list[str]) -> list[RemoteRecord]:
    """``backend.fetch``, leaving out keys the remote cannot be asked for (a reference holding
    no GUID: ``ValueError``); the records naming them are set aside when their references
    are resolved (stage ``reference``), the others are read."""
    try:
        return backend.fetch(spec, keys)
    except ValueError:
        found: list[RemoteRecord] = []
        for key in keys:
            with contextlib.suppress(ValueError):
                found += backend.fetch(spec, [key])
        return found
