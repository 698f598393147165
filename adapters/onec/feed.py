"""The exchange-plan change feed of the 1C backend (``sync.source.ChangeFeed``): our node's
packages (``exchange.ExchangeFeed``) turned into records of the mapped models, what cannot
be read becoming a problem of the package, and the acknowledgement that survives a lost
answer. ``OneCBackend`` takes it in (``adapter.py``): an entry is typed and read exactly
as a record read by JSON, by the backend's own reading methods."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapters.onec.config import OneCODataConfig
from adapters.onec.errors import OneCRejected, OneCUnavailable
from adapters.onec.exchange import ExchangeFeed, FeedEntry, PackageTooLarge
from adapters.onec.odata import ODataClient
from adapters.onec.selection import FOLDER, is_folder, skips_folders
from adapters.onec.values import BadValue
from mapping.spec import MappingSpec
from sync.source import FeedPackage, RemoteRecord

__all__ = ["OneCChangeFeed"]

log = logging.getLogger("adapters.onec.adapter")  # the feed's lines keep the logger they had in adapter.py


class OneCChangeFeed:
    """The change-feed half of ``OneCBackend``: its methods read through the backend's
    client, configuration and record reading (declared below for the type checker)."""

    name: str
    config: OneCODataConfig
    client: ODataClient
    _exchange: ExchangeFeed | None = None

    if TYPE_CHECKING:  # OneCBackend's reading, shared with its scans and reads by key
        def _lookups(self, spec: MappingSpec) -> dict[str, dict[str, Any]]: ...
        def _composite_refs(self, spec: MappingSpec) -> dict[str, str]: ...
        def _select(self, spec: MappingSpec, composite: Mapping[str, str]) -> list[str]: ...
        def _record(self, spec: MappingSpec, raw: dict[str, Any], lookups: dict[str, dict[str, Any]],
                    composite: Mapping[str, str]) -> RemoteRecord: ...
        def _marked(self, spec: MappingSpec, raw: Mapping[str, Any], *, strict: bool = False) -> bool: ...
        def fetch(self, spec: MappingSpec, ids: Sequence[str]) -> list[RemoteRecord]: ...

    @property
    def change_feed(self) -> bool:
        return self.config.change_detection == "exchange_plan"

    @property
    def exchange(self) -> ExchangeFeed:
        """The client of our node of the configured exchange plan."""
        if self._exchange is None:
            feed = self.config.feed
            self._exchange = ExchangeFeed(self.client, plan=feed.name, node_code=feed.node, max_bytes=feed.max_package_mb << 20)
        return self._exchange

    @property
    def feed_name(self) -> str:
        """``<plan>/<node>``: a node or plan of another name is another feed (a first pass again)."""
        return f"{self.config.feed.name}/{self.config.feed.node}"

    def feed_position(self) -> int:
        """The last package number 1C knows as acknowledged (the node's ``ReceivedNo``)."""
        return self.exchange.received_no()

    def feed_package(self, specs: Mapping[str, MappingSpec], number: int) -> FeedPackage:
        """Package `number` of our node, its entries turned into records of the models in `specs`.

        An entry is matched to a model by its type (``StandardODATA.Catalog_Партнеры`` →
        the mapping whose entity is ``Catalog_Партнеры``) and typed from ``$metadata``
        exactly as a JSON read would be (the entry's text carries no type); one whose value
        is not of its declared type becomes an ``invalid`` record, which the import refuses
        and so holds the package. An ``at:deleted-entry`` tombstone, or an entry holding
        only the key and ``DeletionMark`` true (deleted outright), is listed in ``gone``; an
        entry lacking a mapped field is read again by key. Unparsable entries and types no
        mapping covers (and not in ``ignore_types``) are returned as problems, never dropped.
        """
        try:
            raw = self.exchange.read(number)
        except PackageTooLarge as exc:  # parked like a package with a bad entry: version scans stand in
            return FeedPackage(number, problems=[(str(exc), "")])
        package = FeedPackage(number, problems=list(raw.unparsed))
        by_entity: dict[str, list[str]] = {}
        for model, spec in specs.items():
            by_entity.setdefault(spec.entity, []).append(model)
        lookups: dict[str, dict[str, dict[str, Any]]] = {}
        refetch: dict[str, list[str]] = {}
        known: dict[str, tuple[dict[str, str], list[str]]] = {}

        def reads(model: str) -> tuple[dict[str, str], list[str]]:
            """A model's composite references and the fields an entry must carry, asked once a package."""
            if model not in known:
                composite = self._composite_refs(specs[model])
                # IsFolder is asked to drop folders, not needed of an entry: one without it is an item
                known[model] = (composite, [n for n in self._select(specs[model], composite)
                                            if n != FOLDER or FOLDER in specs[model].remote_fields()])
            return known[model]

        for entry in raw.entries:
            models = by_entity.get(entry.type_name)
            if not models:
                if entry.type_name in self.config.feed.ignore_types:
                    package.ignored += 1
                    continue
                named = f"{entry.type_name} {entry.values['Ref_Key']}" if entry.values.get("Ref_Key") else entry.type_name
                package.problems.append((
                    f"{named}: no mapping covers this type; add a mapping for it, "
                    f"list it in exchange_plan.ignore_types, or take it out of exchange plan {self.config.feed.name} in 1C",
                    _shown(entry)))
                continue
            for model in models:
                spec = specs[model]
                key_field = "Ref_Key" if entry.removed else spec.key  # a tombstone's ref names the object by Ref_Key
                key = str(entry.values[key_field]) if entry.values.get(key_field) else ""
                if not key:
                    package.problems.append((f"{entry.type_name}: entry without {spec.key}", _shown(entry)))
                    continue
                try:
                    gone = entry.removed or self._gone(entry, spec)
                except BadValue as exc:  # a key-only entry whose mark is no boolean: neither deleted nor live
                    package.problems.append((f"{entry.type_name} {key}: {exc}", _shown(entry)))
                    continue
                if gone or (is_folder(entry.values) and skips_folders(spec, self.client.metadata().entity(spec.entity))):
                    package.gone.setdefault(model, []).append(key)  # a folder is no record: never bound, or no longer
                elif any(name not in entry.values for name in reads(model)[1]):
                    refetch.setdefault(model, []).append(key)
                else:
                    if model not in lookups:
                        lookups[model] = self._lookups(spec)
                    composite, select = reads(model)
                    wanted = {name: entry.values[name] for name in select}
                    try:
                        record = self._record(spec, wanted, lookups[model], composite)
                    except (ValueError, TypeError, KeyError) as exc:
                        package.problems.append((f"{entry.type_name} {key}: {type(exc).__name__}: {exc}", _shown(entry)))
                        continue
                    package.records.setdefault(model, []).append(record)
        for model, keys in refetch.items():
            # An entry without every mapped field (a field not carried by the feed): the
            # record is read as a scan would read it; one gone meanwhile arrives as a deletion.
            log.info("%s: %d %s entries lack mapped fields; reading them by key", self.name, len(keys), model,
                     extra={"event": "onec.feed.refetch", "backend": self.name})
            found = self.fetch(specs[model], keys)
            package.records.setdefault(model, []).extend(found)
            read = {r.id for r in found}
            if absent := [k for k in keys if k not in read]:  # 1C registered a change, and the object is gone
                package.gone.setdefault(model, []).extend(absent)
        return package

    def _gone(self, entry: FeedEntry, spec: MappingSpec) -> bool:
        """An object deleted outright, sent as an entry: only its key and ``DeletionMark``
        true (the mark's text typed by ``$metadata``; ``BadValue`` when it is no boolean)."""
        return set(entry.values) <= {spec.key, spec.deleted} and self._marked(spec, entry.values, strict=True)

    def feed_acknowledge(self, number: int) -> None:
        """Tell 1C package `number` is stored. When the answer is lost, ``ReceivedNo`` says
        whether 1C took it: if so all is well, else the fault goes to the caller (who
        reads the package again next time)."""
        try:
            self.exchange.acknowledge(number)
        except OneCUnavailable:
            try:
                taken = self.exchange.received_no() >= number
            except OneCUnavailable:
                taken = False
            if not taken:
                raise
            log.info("%s: the answer to acknowledging package %d was lost, but 1C took it", self.name, number,
                     extra={"event": "onec.feed.ack_lost", "backend": self.name})

    def check_exchange_plan(self) -> dict[str, Any]:
        """Find the configured exchange plan published and our node in it (``check``, ``onec inspect``)."""
        plan, node = self.config.feed.name, self.config.feed.node
        entity_set = self.exchange.entity_set
        if self.client.metadata().entity(entity_set) is None:
            return {"ok": False, "detail": (
                f"exchange plan {plan}: {entity_set} is not published; include the exchange plan in the standard OData "
                "interface content (Администрирование → Настройка стандартного интерфейса OData), give the OData user "
                "read/write rights on it, or fix exchange_plan.name (change_detection: exchange_plan)")}
        try:
            position = self.exchange.received_no()
        except OneCRejected as exc:
            return {"ok": False, "detail": str(exc)}
        return {"ok": True, "detail": f"exchange plan {plan}: node {node!r} found, {position} package(s) acknowledged"}


def _shown(entry: FeedEntry) -> str:
    """A parsed entry as text for a parked package (the raw XML is not kept once parsed)."""
    return json.dumps({"type": entry.type_name, **entry.values}, ensure_ascii=False, default=str)[:20000]
