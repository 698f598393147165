"""Exchange-plan change tracking, read over OData as onecdc does (INTERFACE.md §7a).

Every committed write to a published object — over OData, by the simulated 1C user or
through :meth:`Emulator.update` — is registered for each node of each exchange plan
except the base's own (``ThisNode``). A reader then calls

``POST SelectChanges?DataExchangePoint='<base>ExchangePlan_X(guid'<node>')'&MessageNo=n``
    up to ``package_size`` unnumbered registrations get message number ``n``; the answer
    is an Atom feed of every registration numbered ≤ n, each entry the object's current
    state (``category/@term`` = its type). Empty → a ``<feed>`` without entries.
``POST NotifyChangesReceived?DataExchangePoint=…&MessageNo=n``
    drops registrations numbered ≤ n and sets the node's ``ReceivedNo`` to n.

An object changed again after it was sent loses its number, so it is sent again. A
physically deleted object arrives as an entry holding only ``Ref_Key`` and
``DeletionMark`` = true, or with ``atom_tombstones`` as an Atom tombstone
``<at:deleted-entry ref="<base>Catalog_X(guid'…')" when="…"/>`` (RFC 6721).
Registrations are kept per node in write order, in memory.

``real_1c_atom`` (on by default): entries carry no ``m:type`` on scalar properties, as
packages recorded from live 1C bases show (INTERFACE.md §7a) — a client must type the
text from ``$metadata``. Off, every non-string scalar carries its ``m:type``, as an
OData library would write it.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from . import atom
from .errors import ODataError, not_found
from .options import Options
from .render import Renderer, entity_path
from .service import Response
from .store import Store

__all__ = ["ExchangePlans"]

_POINT = re.compile(r"(ExchangePlan_[^(/']+)\(guid'([0-9a-fA-F-]{36})'\)")
_ATOM = "application/atom+xml;charset=utf-8"
_MOSCOW = ZoneInfo("Europe/Moscow")  # the base's wall clock (a tombstone's `when` carries its offset)


class ExchangePlans:
    """Change registrations of every exchange plan in the schema."""

    def __init__(self, store: Store, renderer: Renderer, *, package_size: int = 1000, real_1c_atom: bool = True,
                 atom_tombstones: bool = False) -> None:
        self.store, self.renderer, self.package_size = store, renderer, package_size
        #: scalars as bare text, no ``m:type`` (a real base); settable while serving
        self.real_1c_atom = real_1c_atom
        #: an object deleted from the base as ``<at:deleted-entry>``, not a key-only entry
        self.atom_tombstones = atom_tombstones
        self.plans = [name for name, entity_set in store.schema.sets.items()
                      if entity_set.kind == "ExchangePlan" and entity_set.owner is None]
        #: node Ref_Key → {(set name, Ref_Key): message number or None}, in write order
        self.registrations: dict[str, dict[tuple[str, str], int | None]] = {}
        store.listeners.append(self.on_write)

    def nodes(self) -> list[str]:
        """Nodes that receive registrations: every node but the base's own."""
        result: list[str] = []
        for plan in self.plans:
            index = self.store.schema.sets[plan].type.index
            result.extend(ref for ref, row in self.store.tables.get(plan, {}).items()
                          if not row[index["ThisNode"]])
        return result

    def on_write(self, set_name: str, ref_key: str, action: str) -> None:
        """Store listener (lock held): register the change for every node."""
        if set_name in self.plans:
            return
        key = (set_name, ref_key)
        for node in self.nodes():
            registered = self.registrations.setdefault(node, {})
            registered.pop(key, None)  # changed again: unnumbered, moved to the end
            registered[key] = None

    def register_all(self) -> int:
        """Register every existing object for every node (a fresh node's initial load)."""
        with self.store.lock:
            count = 0
            for set_name, table in self.store.tables.items():
                if set_name in self.plans:
                    continue
                for ref in list(table):
                    self.on_write(set_name, ref, "register")
                    count += 1
            return count

    # ------------------------------------------------------------ OData functions
    def select_changes(self, method: str, options: Options, base: str) -> Response:
        plan, node, number = self._arguments(method, options)
        with self.store.lock:
            registered = self.registrations.setdefault(node, {})
            budget = self.package_size - sum(1 for n in registered.values() if n is not None
                                             and n <= number)
            for key, current in registered.items():
                if budget <= 0:
                    break
                if current is None:
                    registered[key] = number
                    budget -= 1
            package = [key for key, n in registered.items() if n is not None and n <= number]
            stamp = self.store.clock().replace(microsecond=0).isoformat()
            entries = [self._entry(base, set_name, ref, stamp) for set_name, ref in package]
            self._set_counter(plan, node, "SentNo", number)
        return Response(200, atom.feed(base, "SelectChanges", entries, stamp), _ATOM)

    def notify_changes_received(self, method: str, options: Options, base: str) -> Response:
        plan, node, number = self._arguments(method, options)
        with self.store.lock:
            registered = self.registrations.setdefault(node, {})
            for key in [k for k, n in registered.items() if n is not None and n <= number]:
                del registered[key]
            self._set_counter(plan, node, "ReceivedNo", number)
        return Response(200, content_type="")

    def _arguments(self, method: str, options: Options) -> tuple[str, str, int]:
        if method != "POST":
            raise ODataError(400, "19", f"Метод HTTP {method} запрещен для этой функции")
        point = options.params.get("DataExchangePoint", "")
        match = _POINT.search(point)
        if match is None:
            raise ODataError(400, "12", "Не указан или неверен аргумент DataExchangePoint: "
                             "ожидается '<base>/ExchangePlan_<План>(guid'<узел>')'")
        plan, node = match.group(1), match.group(2).lower()
        raw_number = options.params.get("MessageNo", "")
        if not raw_number.isdigit() or int(raw_number) < 1:
            raise ODataError(400, "12", f"Не указан или неверен аргумент MessageNo: '{raw_number}'")
        if plan not in self.plans or node not in self.store.tables.get(plan, {}):
            raise not_found()
        return plan, node, int(raw_number)

    def _set_counter(self, plan: str, node: str, name: str, number: int) -> None:
        row = self.store.tables[plan][node]
        row[self.store.schema.sets[plan].type.index[name]] = number

    def _entry(self, base: str, set_name: str, ref: str, stamp: str) -> str:
        entity_set = self.store.schema.sets[set_name]
        row = self.store.lookup(set_name, ref)
        values: dict[str, Any]
        if row is None:
            path = f"{set_name}(guid'{ref}')"
            if self.atom_tombstones:
                when = self.store.clock().replace(microsecond=0, tzinfo=_MOSCOW).isoformat()
                return atom.deleted_entry(base, path, when)
            values = {"Ref_Key": ref, "DeletionMark": True}
        else:
            values = self.renderer.entity(entity_set, row, links=False)
            path = entity_path(entity_set, row)
        return atom.entry_xml(base, path, entity_set.type.name, entity_set.type, values, stamp,
                              scalar_types=not self.real_1c_atom)
