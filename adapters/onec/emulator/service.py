"""The standard OData interface of the emulated base, independent of sockets.

``ODataService.handle(method, path, query, body)`` takes the part of the URL after
``…/odata/standard.odata/`` (percent-decoded) and returns a :class:`Response`; the HTTP
server only adds auth, faults and transport. That keeps every 1C rule testable without
a socket and in one place: routes of INTERFACE.md §9.1, shaping §2, errors §3, writes §4.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..refs import REF_ORDERS
from . import atom
from .errors import ODataError, bad_literal, bad_path, method_forbidden, not_found, unknown_set
from .options import Options, parse_options, parse_selection
from .planner import Planner
from .predicate import compile_filter, compile_orderby
from .query import Path, normalize_guid, parse_orderby
from .render import Renderer, entity_path
from .schema import EntitySet, Schema
from .store import EMPTY_REF, Store

__all__ = ["Action", "ODataService", "Response", "ServiceConfig"]

_SEGMENT = re.compile(r"^(?P<set>[^/(]+)(?:\((?P<key>.*?)\))?(?:/(?P<rest>.*))?$", re.DOTALL)
_JSON = "application/json;charset=utf-8"
_XML = "application/xml;charset=utf-8"
_ATOM = "application/atom+xml;charset=utf-8"


@dataclass
class Response:
    """What to send: status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)


#: ``action(method, options, base) -> Response`` for functions such as SelectChanges
Action = Callable[[str, Options, str], Response]


@dataclass(frozen=True)
class ServiceConfig:
    """Switches for 1C behaviours that are quirks rather than contract."""

    plus_quirk: bool = True  # a raw "+" in $filter makes 1C ignore the filter
    error_bom: bool = False  # prepend a UTF-8 BOM to JSON error bodies
    allow_delete: bool = False  # DELETE of catalog items/documents (default: 400 code 19)
    # How references compare and sort (``$orderby``, ``gt``/``lt``): "binary" as 1C stores
    # them, "text" as their text reads, "uniqueidentifier" as SQL Server's (refs.REF_ORDERS)
    ref_order: str = "binary"

    def __post_init__(self) -> None:
        if self.ref_order not in REF_ORDERS:
            msg = f"ref_order {self.ref_order!r}: not an order of references; valid: {', '.join(REF_ORDERS)}"
            raise ValueError(msg)


class ODataService:
    """Routes one request against the schema and store."""

    def __init__(
        self,
        schema: Schema,
        store: Store,
        config: ServiceConfig,
        *,
        published: Callable[[], Iterable[str]] | None = None,
        metadata: Callable[[], str] | None = None,
        new_key: Callable[[], str] | None = None,
        actions: Mapping[str, Action] | None = None,
    ) -> None:
        self.schema, self.store, self.config = schema, store, config
        self.renderer = Renderer(schema, store)
        self.order = REF_ORDERS[config.ref_order]
        self.planner = Planner(store, self.order)
        self._published = published or (lambda: schema.sets.keys())
        self._metadata = metadata or (lambda: schema.edmx_text)
        self._new_key = new_key or (lambda: str(uuid.uuid4()))
        #: unbound functions at the base, e.g. ``SelectChanges`` (not in `$metadata`)
        self.actions: dict[str, Action] = dict(actions or {})

    # ------------------------------------------------------------------ entry
    def handle(self, method: str, path: str, query: str, body: bytes, base: str,
               *, load_mode: bool = False) -> Response:
        """Answer one request; every failure becomes a 1C ``odata.error`` response.

        ``load_mode`` is the ``1C_OData_DataLoadMode: true`` header: writes run in data-load
        mode (``ОбменДанными.Загрузка``), so business checks are skipped. **[L]** evidence.
        """
        json_wanted = True
        try:
            options = parse_options(query, plus_quirk=self.config.plus_quirk)
            options.load_mode = load_mode
            json_wanted = options.json
            return self._route(method, path, options, body, base)
        except ODataError as error:
            return self.error(error, json_wanted=json_wanted)

    def error(self, error: ODataError, *, json_wanted: bool = True) -> Response:
        if json_wanted:
            return Response(error.status, error.json_body(bom=self.config.error_bom))
        return Response(error.status, error.xml_body(), _XML)

    def _route(self, method: str, path: str, options: Options, body: bytes, base: str) -> Response:
        if path == "":
            return self._service_document(options, base)
        if path == "$metadata":
            return Response(200, self._metadata().encode("utf-8"), _XML)
        action = self.actions.get(path.lstrip("/"))
        if action is not None:
            return action(method, options, base)
        match = _SEGMENT.match(path)
        if match is None:
            raise bad_path(path)
        set_name, raw_key, rest = match.group("set"), match.group("key"), match.group("rest")
        if set_name not in self.schema.sets or set_name not in set(self._published()):
            raise unknown_set(set_name)
        entity_set = self.schema.sets[set_name]
        if raw_key is None:
            return self._collection(method, entity_set, rest, options, body, base)
        key = _parse_key(raw_key, entity_set)
        if rest:
            return self._member(method, entity_set, key, rest, options, base)
        if method == "GET":
            return self._single(entity_set, self._find(entity_set, key), options, base)
        if method in ("PATCH", "MERGE"):
            self._require_object(entity_set, method)
            self.store.check_free(set_name, key["Ref_Key"])
            self.store.patch(set_name, key["Ref_Key"], _json_body(body),
                             checks=not options.load_mode)
            return self._single(entity_set, self._find(entity_set, key), options, base)
        if method == "DELETE":
            self._require_object(entity_set, method)
            if not self.config.allow_delete:
                raise method_forbidden(method, set_name)
            self.store.check_free(set_name, key["Ref_Key"])
            self.store.delete(set_name, key["Ref_Key"])
            return Response(204, content_type="")
        raise method_forbidden(method, set_name)

    # ------------------------------------------------------------- collections
    def _collection(
        self, method: str, entity_set: EntitySet, rest: str | None, options: Options,
        body: bytes, base: str,
    ) -> Response:
        if rest == "$count" and method == "GET":
            with self.store.lock:
                count = sum(1 for _ in self._filtered(entity_set, options))
            return Response(200, str(count).encode("ascii"), "text/plain;charset=utf-8")
        if rest:
            raise bad_path(rest)
        if method == "POST":
            if entity_set.owner is not None:
                raise ODataError(400, "13", "Создание строк табличной части напрямую не поддерживается")
            self._require_object(entity_set, method)
            row = self.store.create(entity_set.name, _json_body(body), self._new_key())
            with self.store.lock:
                response = self._single(entity_set, row, options, base, status=201)
            response.headers["Location"] = base + entity_path(entity_set, row)
            return response
        if method != "GET":
            raise method_forbidden(method, entity_set.name)
        selection = parse_selection(options.select, options.expand, entity_set.type, self.schema)
        links = options.format == "json"
        with self.store.lock:
            rows = self._source(entity_set, options)
            total: int | None = None
            if options.inlinecount:
                if options.filter is None and not options.orderby:
                    total = self.store.count(entity_set)
                else:
                    rows = list(rows)
                    total = len(rows)
            stop = None if options.top is None else options.skip + options.top
            page = itertools.islice(rows, options.skip, stop)
            shaped = [
                (row, self.renderer.entity(entity_set, row, links=links, selection=selection))
                for row in page
            ]
        if not options.json:
            stamp = self.store.clock().replace(microsecond=0).isoformat()
            entries = (
                atom.entry_xml(base, entity_path(entity_set, row), entity_set.type.name,
                               entity_set.type, values, stamp)
                for row, values in shaped
            )
            return Response(200, atom.feed(base, entity_set.name, entries, stamp, total), _ATOM)
        document: dict[str, Any] = {}
        if options.format == "json":
            document["odata.metadata"] = f"{base}$metadata#{entity_set.name}"
        if total is not None:
            document["odata.count"] = str(total)  # a string, like 1C
        document["value"] = [values for _, values in shaped]
        return _json(200, document)

    def _filtered(self, entity_set: EntitySet, options: Options) -> Iterable[Sequence[Any]]:
        if options.filter is None:
            return self.store.rows(entity_set)
        predicate = compile_filter(options.filter, entity_set.type, self.schema, self.store.lookup, self.order)
        rows = self.planner.by_keys(entity_set, options.filter)
        if rows is None:
            rows = self.planner.by_values(entity_set, options.filter)
        return filter(predicate, self.store.rows(entity_set) if rows is None else rows)

    def _source(self, entity_set: EntitySet, options: Options) -> Iterable[Sequence[Any]]:
        """Filtered rows in the requested order, from an index when the planner can."""
        if not options.orderby:
            return self._filtered(entity_set, options)
        keys = compile_orderby(options.orderby, entity_set.type, self.schema, self.store.lookup, self.order)
        predicate = None if options.filter is None else compile_filter(
            options.filter, entity_set.type, self.schema, self.store.lookup, self.order)
        items = parse_orderby(options.orderby)
        if len(keys) == 1 and isinstance(items[0][0], Path) and len(items[0][0].parts) == 1 \
                and self.planner.by_keys(entity_set, options.filter) is None:
            ordered = self.planner.ordered(entity_set, items[0][0].parts[0],
                                           descending=keys[0][1], filter_text=options.filter)
            if ordered is not None:
                return ordered if predicate is None else filter(predicate, ordered)
        return self._sorted(entity_set, self._filtered(entity_set, options), options.orderby)

    def _sorted(
        self, entity_set: EntitySet, rows: Iterable[Sequence[Any]], orderby: str
    ) -> list[Sequence[Any]]:
        keys = compile_orderby(orderby, entity_set.type, self.schema, self.store.lookup, self.order)
        ordered = list(rows)
        for key, descending in reversed(keys):  # stable sorts, least significant first
            ordered.sort(key=key, reverse=descending)
        return ordered

    # ------------------------------------------------------------------ members
    def _member(
        self, method: str, entity_set: EntitySet, key: dict[str, Any], rest: str,
        options: Options, base: str,
    ) -> Response:
        if rest in ("Post", "Unpost"):
            if method != "POST":
                raise method_forbidden(method, f"{entity_set.name}/{rest}")
            if not entity_set.postable:
                raise ODataError(400, "11", f"Метод не найден: {rest}")
            operational = options.params.get("PostingModeOperational", "false").lower() == "true"
            self.store.check_free(entity_set.name, key["Ref_Key"])
            self.store.set_posted(
                entity_set.name, key["Ref_Key"], posted=rest == "Post", operational=operational
            )
            return Response(200, content_type="")
        if method != "GET":
            raise method_forbidden(method, f"{entity_set.name}/{rest}")
        nav = entity_set.type.navigations.get(rest)
        if nav is None:
            raise bad_path(rest)
        with self.store.lock:
            row = self._find(entity_set, key)
            target_key = row[entity_set.type.index[nav.key]]
            if not target_key or target_key == EMPTY_REF:
                raise not_found()
            target = self.schema.sets[nav.target]
            if nav.target not in set(self._published()):
                raise unknown_set(nav.target)
            target_row = self.store.lookup(nav.target, target_key)
            if target_row is None:
                raise not_found()
            return self._single(target, target_row, options, base)

    def _single(
        self, entity_set: EntitySet, row: Sequence[Any], options: Options, base: str,
        *, status: int = 200,
    ) -> Response:
        selection = parse_selection(options.select, options.expand, entity_set.type, self.schema)
        with self.store.lock:
            values = self.renderer.entity(
                entity_set, row, links=options.format == "json", selection=selection
            )
        if not options.json:
            stamp = self.store.clock().replace(microsecond=0).isoformat()
            entry = atom.entry_xml(base, entity_path(entity_set, row), entity_set.type.name,
                                   entity_set.type, values, stamp)
            return Response(status, atom.single(base, entry), _ATOM)
        if options.format == "json":
            values = {"odata.metadata": f"{base}$metadata#{entity_set.name}/@Element", **values}
        return _json(status, values)

    def _find(self, entity_set: EntitySet, key: dict[str, Any]) -> Sequence[Any]:
        with self.store.lock:
            if entity_set.owner is not None:
                row = self.store.section_row(entity_set, key["Ref_Key"], key["LineNumber"])
            else:
                row = self.store.lookup(entity_set.name, key["Ref_Key"])
            if row is None:
                raise not_found()
            return row

    def _require_object(self, entity_set: EntitySet, method: str) -> None:
        if not entity_set.is_object:
            raise method_forbidden(method, entity_set.name)

    def _service_document(self, options: Options, base: str) -> Response:
        names = list(self._published())
        if not options.json:
            return Response(200, atom.service_document(base, names), _XML)
        document: dict[str, Any] = {}
        if options.format == "json":
            document["odata.metadata"] = f"{base}$metadata"
        document["value"] = [{"name": name, "url": name} for name in names]
        return _json(200, document)


def _parse_key(raw: str, entity_set: EntitySet) -> dict[str, Any]:
    """``guid'…'`` or ``Ref_Key=guid'…',LineNumber=1`` → key values (bad → 400 code 1)."""
    parts = [raw] if "=" not in raw else [p for p in raw.split(",") if p]
    key: dict[str, Any] = {}
    for part in parts:
        name, _, literal = part.rpartition("=") if "=" in part else ("Ref_Key", "", part)
        name, literal = name.strip(), literal.strip()
        if name == "LineNumber" and literal.isdigit():
            key[name] = int(literal)
            continue
        guid = normalize_guid(literal[5:-1]) if literal.startswith("guid'") and literal.endswith(
            "'") else None
        if name != "Ref_Key" or guid is None:
            raise bad_literal(part)
        key[name] = guid
    if set(key) != set(entity_set.type.keys):
        raise ODataError(400, "7", f"Не указан элемент ключа: {raw}")
    return key


def _json_body(body: bytes) -> dict[str, Any]:
    """A write body; malformed JSON is a 500 code -1 on a real base (GATE-P8)."""
    try:
        value = json.loads(body.decode("utf-8-sig") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ODataError(500, "-1", f"Ошибка разбора JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ODataError(400, "2", "Неверный формат запроса: ожидается объект JSON")
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json(status: int, document: dict[str, Any]) -> Response:
    """A JSON answer. 1C strings are UTF-16 and may hold a lone surrogate; no UTF-8 can
    carry one, so it goes out as a ``\\uXXXX`` escape (valid JSON), as a JSON writer must."""
    text = json.dumps(document, ensure_ascii=False)
    text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return Response(status, text.encode("utf-8"))
