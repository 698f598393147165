"""What an import pass counts, and the two tests it applies to what it meets: a record's
fingerprint (``content_hash``) and a transaction that lost a race to another (``lost_race``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from sqlalchemy.exc import DBAPIError, IntegrityError

__all__ = ["ImportStats", "clean_content_hash", "content_hash", "lost_race"]


@dataclass
class ImportStats:
    read: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    held: str | None = None  # deletions the mass-delete guard held (``sync.deletes``), with its numbers

    def add(self, other: ImportStats) -> None:
        for name in ("read", "fetched", "created", "updated", "skipped", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        self.held = "; ".join(h for h in (self.held, other.held) if h) or None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # as ``quarantine.storable`` repairs

#: SQLSTATEs of a transaction that lost a race to another one: retry it, do not skip it.
_RACES = {"23505", "40P01", "40001"}  # unique violation, deadlock, serialization failure


def lost_race(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError) and "UNIQUE" in str(exc.orig).upper():
        return True  # SQLite says "UNIQUE constraint failed"
    return getattr(exc.orig, "sqlstate", None) in _RACES


def content_hash(values: Mapping[str, Any], *, version: str | None = None) -> str:
    """A fingerprint of a record's values, without its version field (`version`): a record
    saved again unchanged (1C bumps DataVersion on every write) keeps its hash."""
    return hashlib.sha256(_blob(values, version)).hexdigest()


def _blob(values: Mapping[str, Any], version: str | None) -> bytes:
    names = tuple(values)
    order = _ORDERS.get((names, version))
    if order is None:
        if len(_ORDERS) >= _MAX_ORDERS:
            _ORDERS.clear()
        order = _ORDERS[(names, version)] = tuple(sorted(k for k in names if k != version))
    return pydantic_core.to_json({k: values[k] for k in order}, fallback=str,
                                 bytes_mode="base64")  # a SOAP base64Binary value need not be UTF-8


# The sorted field names of each set of names met (with the version left out): a set's
# records come with the same names in the same order, so they are sorted once, not per record.
_ORDERS: dict[tuple[tuple[str, ...], str | None], tuple[str, ...]] = {}
_MAX_ORDERS = 256


def clean_content_hash(values: Mapping[str, Any], *, version: str | None = None) -> str | None:
    """``content_hash`` of values whose every text a store can hold as it is, from the one
    serialisation the hash needs anyway; None when some text may not be (a NUL, or a lone
    UTF-16 surrogate, which UTF-8 cannot encode): the caller repairs the values first
    (``quarantine.storable``) and hashes what it stores. JSON writes a NUL as the escape
    ``\\u0000`` and a backslash as two, so clean text never looks like a NUL; a false
    alarm (a text holding ``\\u0000`` literally) only costs the careful path."""
    kept = values.get(version) if version is not None else None
    if isinstance(kept, str) and _UNSTORABLE.search(kept):  # the version is not hashed, but stored
        return None
    try:
        blob = _blob(values, version)
    except Exception:  # noqa: BLE001 - any failure: the careful path, which raises what it must
        return None
    # a backslash first (one byte, found at memory speed): most records hold no escape at all
    return None if b"\\" in blob and b"\\u0000" in blob else hashlib.sha256(blob).hexdigest()
