"""When each request last changed: what a 1C developer's custom service would keep.

1C objects carry no modified-at field (INTERFACE.md §7), so the SOAP service the
fixture WSDL describes (``GetChangedRequests``) stands for a 1C-side register filled by
an event subscription. This is that register: one ``(changed at, Ref_Key)`` entry per
write, in time order, so a reader pages with a ``"<changed at>|<Ref_Key>"`` cursor.

It is built lazily on first use (seeded requests count as changed at their latest
date), so bases that never serve SOAP pay nothing but one dict entry per write.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

from .store import Store

__all__ = ["ChangeLog"]

_EMPTY = "0001-01-01T00:00:00"


class ChangeLog:
    """Modification times of one set's objects; call under the store lock."""

    def __init__(self, store: Store, set_name: str) -> None:
        self.store, self.set_name = store, set_name
        self._touched: dict[str, str] = {}  # writes seen before the log was built
        self._entries: list[tuple[str, str]] | None = None
        self._positions: dict[tuple[str, str], int] = {}
        self._current: dict[str, str] = {}
        store.listeners.append(self._on_write)

    def changed_at(self, ref_key: str) -> str:
        """``YYYY-MM-DDTHH:MM:SS`` of the object's last change (never builds the log)."""
        if self._entries is not None:
            return self._current.get(ref_key, _EMPTY)
        row = self.store.lookup(self.set_name, ref_key)
        return self._touched.get(ref_key) or (_EMPTY if row is None else self._seeded(row))

    def _seeded(self, row: list[Any]) -> str:
        """A never-written object counts as changed at its latest date."""
        index = self.store.schema.sets[self.set_name].type.index
        dated = [name for name in ("Date", "ДатаПервогоОтвета", "ДатаЗавершения") if name in index]
        return max((row[index[name]] for name in dated), default=_EMPTY)

    def after(self, cursor: str | None, since: str | None) -> Iterator[tuple[str, str]]:
        """Live ``(changed at, Ref_Key)`` entries after a cursor, or from ``since``."""
        entries = self._build()
        start = 0
        if cursor:
            stamp, _, ref = cursor.partition("|")
            position = self._positions.get((stamp, ref))
            start = position + 1 if position is not None else bisect.bisect_right(
                entries, (stamp, ref))
        elif since:
            start = bisect.bisect_left(entries, (since, ""))
        table = self.store.tables.get(self.set_name, {})
        for position in range(start, len(entries)):
            stamp, ref = entries[position]
            if self._current.get(ref) == stamp and ref in table:
                yield stamp, ref

    def _on_write(self, set_name: str, ref_key: str, action: str) -> None:
        if set_name != self.set_name:
            return
        stamp = self.store.clock().replace(microsecond=0).isoformat()
        if self._entries is None:
            self._touched[ref_key] = stamp
            return
        if self._entries and stamp < self._entries[-1][0]:
            stamp = self._entries[-1][0]  # keep the log in time order
        self._append(stamp, ref_key)

    def _append(self, stamp: str, ref_key: str) -> None:
        assert self._entries is not None  # noqa: S101 - only called once built
        self._positions[(stamp, ref_key)] = len(self._entries)
        self._entries.append((stamp, ref_key))
        self._current[ref_key] = stamp

    def _build(self) -> list[tuple[str, str]]:
        if self._entries is not None:
            return self._entries
        seeded = sorted(
            (self._touched.get(ref) or self._seeded(row), ref)
            for ref, row in self.store.tables.get(self.set_name, {}).items()
        )
        self._entries = []
        for stamp, ref in seeded:
            self._append(stamp, ref)
        self._touched.clear()
        return self._entries
