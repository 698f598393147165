"""The 1C backend as the sync engine sees it: pages of ``RemoteRecord`` and field writes."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.onec.config import OneCODataConfig
from adapters.onec.damaged import DAMAGED
from adapters.onec.errors import OneCRejected, OneCStoredOtherwise, OneCUnavailable
from adapters.onec.feed import OneCChangeFeed
from adapters.onec.odata import ODataClient, string_literal
from adapters.onec.selection import FOLDER, is_folder, server_filter, skips_folders
from adapters.onec.stored import differences
from adapters.onec.values import BadValue, from_wire, read_value, to_wire
from crm_bridge.errors import ConfigError
from crm_bridge.interactive import capped, interactive
from mapping.kinds import canonical_fields
from mapping.load import compiled_file, load_mapping
from mapping.spec import MappingSpec
from sync.source import RemoteRecord, RemoteStub

__all__ = ["DEFAULT_MAPPINGS", "OneCBackend"]

log = logging.getLogger(__name__)

DEFAULT_MAPPINGS = Path(__file__).parent / "data" / "mappings"
LOOKUP_TTL = 300.0
_READ_BY_KEY_KEPT = 4096  # records read by key kept to compare a write's answer with (an outbox batch is 500)


class OneCBackend(OneCChangeFeed):
    """A ``sync.source.RemoteBackend`` over one 1C OData publication; with
    ``change_detection: exchange_plan`` also a ``sync.source.ChangeFeed`` (``feed.py``)."""

    described_by = "1C $metadata"  # what `describe` reads (told by `mapping suggest`)

    def __init__(self, name: str, config: OneCODataConfig, client: ODataClient | None = None) -> None:
        self.name = name
        self.config = config
        self.tz = ZoneInfo(config.timezone)
        self._lookup_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        # (entity set, key) -> (version, the raw values, whether our own write's answer) of
        # records read by key lately: the re-read before a write, or the answer to the write
        # before it, against which the write's answer is compared (``update``)
        self._read_by_key: OrderedDict[tuple[str, str], tuple[str | None, dict[str, Any], bool]] = OrderedDict()
        # a person at a terminal (check, inspect, preview) waits seconds, not minutes: crm_bridge.interactive
        connect, read, total = capped(config.timeout.connect, config.timeout.read, config.timeout.total)
        self.client = client or ODataClient(
            name=name,
            base_url=str(config.url),
            username=config.username,
            password=config.password.get_secret_value(),
            timeout=(connect, read),
            max_query_string=config.max_query_string,
            total_timeout=total,
            max_answer_bytes=config.max_answer_mb << 20,
            retry_silence=not interactive(),
            connections=max(10, config.max_concurrency),
        )

    @property
    def mappings_dir(self) -> Path:
        return Path(self.config.mappings) if self.config.mappings else DEFAULT_MAPPINGS

    def _lookups(self, spec: MappingSpec) -> dict[str, dict[str, Any]]:
        """source field -> {key: looked-up value}. Small catalogs (request states), read
        once and kept for ``LOOKUP_TTL`` seconds, not once per page."""
        tables: dict[str, dict[str, Any]] = {}
        for f in spec.fields.values():
            if f.lookup is None:
                continue
            cache_key = (f.lookup.entity, f.lookup.field)
            cached = self._lookup_cache.get(cache_key)
            if cached is None or time.monotonic() - cached[0] > LOOKUP_TTL:
                rows = self.client.query(f.lookup.entity, select=["Ref_Key", f.lookup.field])
                cached = self._lookup_cache[cache_key] = (time.monotonic(), {str(r["Ref_Key"]): r.get(f.lookup.field) for r in rows})
            tables[f.source] = cached[1]
        return tables

    def _composite_refs(self, spec: MappingSpec) -> dict[str, str]:
        """The mapped references 1C keeps as composite fields (``Основание`` + ``Основание_Type``:
        a field that may point at several kinds of object): source field → the entity type a
        reference to the mapped model names in its ``_Type`` (``Catalog_Партнеры``). Asked
        once per read, batch or package, from the current ``$metadata`` and mappings."""
        entity = self.client.metadata().entity(spec.entity)
        found: dict[str, str] = {}
        for f in spec.fields.values():
            target = self._entity_of(f.ref) if f.ref and entity is not None and f"{f.source}_Type" in entity.properties else None
            if target is not None:
                found[f.source] = target
        return found

    def _entity_of(self, model: str) -> str | None:
        """The entity set this backend's mapping of `model` reads (None without a mapping);
        read again when the file changes."""
        path = self.mappings_dir / f"{model}.yaml"
        if not path.is_file():
            return None
        return compiled_file(path).spec.entity

    def _select(self, spec: MappingSpec, composite: Mapping[str, str]) -> list[str]:
        """``$select`` of a read: the mapped fields, and the ``_Type`` of each composite reference."""
        folder = [FOLDER] if skips_folders(spec, self.client.metadata().entity(spec.entity)) else []
        return list(dict.fromkeys([*spec.remote_fields(), *(f"{s}_Type" for s in composite), *folder]))

    def _items(self, spec: MappingSpec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`rows` without the folders of a hierarchical catalog (``selection``), and without
        ``IsFolder`` itself unless mapped: asked for that alone, it must not change a record."""
        if not skips_folders(spec, self.client.metadata().entity(spec.entity)):
            return rows
        mapped = FOLDER in spec.remote_fields()
        return [raw if mapped else {k: v for k, v in raw.items() if k != FOLDER} for raw in rows if not is_folder(raw)]

    def _record(self, spec: MappingSpec, raw: dict[str, Any], lookups: dict[str, dict[str, Any]],
                composite: Mapping[str, str]) -> RemoteRecord:
        """A record read from 1C (JSON, or a package entry's texts), typed by ``$metadata``.
        A value not of its declared type makes the record ``invalid`` (the importer refuses
        it, naming the field), never a guess: ``bool("false")`` is true."""
        key, version = str(raw[spec.key]), spec.version_of(raw)
        if damaged := raw.get(DAMAGED):  # bytes that were not UTF-8 (``damaged``): what 1C holds is unknown
            return RemoteRecord(key, version, deleted=False, values={k: v for k, v in raw.items() if "@" not in k}, invalid=(
                f"{', '.join(map(str, damaged))}: the text came from {self.name} with bytes that are not UTF-8 (shown as "
                "U+FFFD) — something between 1C and crm-bridge re-encodes the answer (a proxy, a cp1251 hop); the record "
                "is read again next pass or with `crm-bridge quarantine retry`"))
        try:
            values = from_wire(self.client.metadata(), spec.entity, raw, self.tz)
        except BadValue as exc:
            return RemoteRecord(key, version, deleted=False, values={k: v for k, v in raw.items() if "@" not in k}, invalid=(
                f"{exc} — not the type 1C's $metadata declares for {'it' if len(exc.problems) == 1 else 'them'} in "
                f"{spec.entity}; correct the value in 1C (the record is read again once it changes)"))
        for source, wanted in composite.items():
            kind = raw.get(f"{source}_Type")  # "StandardODATA.Catalog_Партнеры", read as the feed reads a type
            if values.get(source) is not None and kind is not None and str(kind).split(".", 1)[-1] != wanted:
                values[source] = None  # it points at another kind of object (a call, a letter), not at the model's
        for source, table in lookups.items():
            if values.get(source) is not None:
                values[source] = table.get(str(values[source]), values[source])
        deleted = values.get(spec.deleted) is True if spec.deleted else False
        return RemoteRecord(key, version, deleted, values)

    @property
    def version_scan(self) -> bool:
        # The exchange-plan mode scans versions too: for its first pass, for referenced
        # records missing locally, and for reconciliation.
        return self.config.change_detection in ("version_scan", "exchange_plan")

    def key_ranges(self, spec: MappingSpec, count: int) -> list[tuple[str | None, str | None]]:
        """`count` disjoint ``(start, before)`` slices of the set's keys, covering all of them.

        Bases differ in how they compare references (1C's stored form leads with the
        GUID's fourth and fifth groups; SQL Server's ``uniqueidentifier`` with the fifth;
        another may compare the text), so no order is assumed here: the cuts are keys 1C
        returns in its own ``$orderby=Ref_Key`` order, and each slice is the filter
        ``Ref_Key ge guid'start' and Ref_Key lt guid'before'`` that 1C evaluates in that
        same order. Each cut is found after the one before (``Ref_Key gt guid'…'``,
        ``$skip`` the slice's size, ``$top=1``), so the cuts rise in 1C's order even
        while users create and delete objects between the probes (the slices then come
        out a little uneven, never overlapping). The first slice has no start and the
        last no end, so a key created later falls in exactly one. ``count`` requests.
        """
        if not 1 <= count <= 256:
            msg = f"key_ranges: count must be 1..256, not {count}"
            raise ValueError(msg)
        if count == 1:
            return [(None, None)]
        total = self.client.count(spec.entity)
        steps = [i * total // count for i in range(1, count)]
        keys: list[str] = []
        for position, previous in zip(steps, [None, *steps[:-1]], strict=True):
            if keys and position == previous:  # fewer records than slices: this slice stays empty, [k, k)
                keys.append(keys[-1])
                continue
            after = keys[-1] if keys else None
            key = self.client.key_at(spec.entity, position if previous is None else position - previous - 1,
                                     after=after)
            if key is None:  # the set shrank since it was counted
                break
            keys.append(key)
        # Fewer keys than slices (a small or shrinking set): the extra slices are empty, [k, k).
        keys += [keys[-1] if keys else str(uuid.UUID(int=0))] * (count - 1 - len(keys))
        bounds: list[str | None] = [None, *keys, None]
        return list(zip(bounds[:-1], bounds[1:], strict=True))

    def scan(self, spec: MappingSpec, *, after: str | None = None, start: str | None = None,
             before: str | None = None) -> Iterator[list[RemoteStub]]:
        """Pages of (key, version, deletion mark): a few bytes per record.

        ``start``/``before`` bound the key range (see ``key_ranges``); ``after`` resumes.
        """
        meta = self.client.metadata()
        entity = meta.entity(spec.entity)
        excluded = list(dict.fromkeys(name for entry in spec.exclude for name in entry))
        select = list(dict.fromkeys([n for n in (spec.key, spec.version, spec.deleted) if n] + excluded
                                    + ([FOLDER] if skips_folders(spec, entity) else [])))
        for page in self.client.pages(spec.entity, select=select, after=after, start=start, before=before,
                                      page_size=self.config.scan_page_size, where=server_filter(spec, entity)):
            yield [
                RemoteStub(str(r[spec.key]), spec.version_of(r),
                           # a row `exclude` matches is listed as deleted (``selection``)
                           self._marked(spec, r) or (bool(excluded) and self._excluded(spec, excluded, r)))
                for r in page if not (FOLDER in select and is_folder(r))
            ]

    def _excluded(self, spec: MappingSpec, fields: list[str], raw: Mapping[str, Any]) -> bool:
        """Whether `exclude` matches a scanned row, reading only the fields it names. A value
        that is not of its type matches nothing: the record is read in full and refused
        there, alone, with the reason (a scan never fails for one record)."""
        try:
            typed = from_wire(self.client.metadata(), spec.entity, {k: raw[k] for k in fields if k in raw}, self.tz)
        except BadValue:
            return False
        return spec.excluded(typed) is not None

    def _marked(self, spec: MappingSpec, raw: Mapping[str, Any], *, strict: bool = False) -> bool:
        """The record's deletion mark, typed by ``$metadata``. One that does not read as a
        boolean raises ``BadValue`` when `strict`, else counts as unmarked: a scanned
        record is then read in full, and refused there with the reason (``_record``)."""
        if not spec.deleted or raw.get(spec.deleted) is None:
            return False
        meta = self.client.metadata()
        entity = meta.entity(spec.entity)
        props = entity.properties if entity else {}
        try:
            return read_value(props.get(spec.deleted), raw[spec.deleted], self.tz, meta, props) is True
        except BadValue:
            if strict:
                raise
            return False

    def fetch(self, spec: MappingSpec, ids: Sequence[str]) -> list[RemoteRecord]:
        """The mapped fields of the given records (ids no longer in 1C are simply absent)."""
        lookups, composite = self._lookups(spec), self._composite_refs(spec)
        rows = self.client.by_keys(spec.entity, list(ids), select=self._select(spec, composite))
        for raw in rows:
            self._remember(spec, raw)
        return [self._record(spec, raw, lookups, composite) for raw in self._items(spec, rows)]

    def _remember(self, spec: MappingSpec, raw: dict[str, Any], *, ours: bool = False, key: str | None = None) -> None:
        """Keep `raw` as the record's last known state: read by key, or (`ours`) our write's answer."""
        seen, at = self._read_by_key, (spec.entity, key if key is not None else str(raw.get(spec.key)))
        seen[at] = (spec.version_of(raw), raw, ours)
        seen.move_to_end(at)
        while len(seen) > _READ_BY_KEY_KEPT:
            seen.popitem(last=False)

    def read(self, spec: MappingSpec, *, after: str | None = None, start: str | None = None,
             before: str | None = None) -> Iterator[list[RemoteRecord]]:
        composite = self._composite_refs(spec)
        select = self._select(spec, composite)
        lookups = self._lookups(spec)
        where = server_filter(spec, self.client.metadata().entity(spec.entity))
        for page in self.client.pages(spec.entity, select=select, after=after, start=start, before=before,
                                      page_size=self.config.page_size, where=where):
            yield [self._record(spec, raw, lookups, composite) for raw in self._items(spec, page)]

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
               expected_version: str | None = None) -> str | None:
        """PATCH `values`; the new version, or None when it holds more than our write.

        1C's OData ignores If-Match and a stale DataVersion in the body (INTERFACE.md §6):
        `expected_version` cannot be enforced; the exporter re-read the record just before.
        A 1C user's edit saved between that re-read and this PATCH shows in 1C's answer as
        a mapped field we did not write that differs from the re-read: the version is then
        not ours alone, and None makes the next import read the record again and merge it,
        instead of skipping that version as our own echo.

        Raises:
            OneCStoredOtherwise: 1C took the PATCH but its answer holds another value for
                a field sent (a string cut to the attribute's length): see ``_verified``.
        """
        body = to_wire(self.client.metadata(), spec.entity, self._unlookup(spec, values), self.tz)
        stored = self.client.patch(spec.entity, remote_id, body)
        version = spec.version_of(stored)
        before = self._read_by_key.pop((spec.entity, remote_id), None)
        # compared with the re-read the write was decided against, or with the answer to our
        # write just before this one (a second row of the record in one batch): a user's edit
        # saved between two writes of ours is never taken for part of our echo
        if before is not None and (before[2] or (expected_version is not None and before[0] == expected_version)):
            ignored = {*body, spec.key, spec.version, "DataVersion"}
            moved = sorted(k for k, v in before[1].items() if k not in ignored and k in stored and stored[k] != v)
            if moved:
                log.info("%s: %s %s changed in 1C meanwhile (%s); the next import reads it again", self.name, spec.entity,
                         remote_id, ", ".join(moved), extra={"event": "onec.write.concurrent", "backend": self.name})
                version = None
        self._remember(spec, stored, ours=True, key=remote_id)
        self._verified(spec, f"PATCH {spec.entity}({remote_id})", remote_id, version, body, stored)
        return version

    def _verified(self, spec: MappingSpec, what: str, remote_id: str, version: str | None, body: dict[str, Any],
                  stored: dict[str, Any]) -> None:
        """Raise ``OneCStoredOtherwise`` when 1C's answer to a write holds, for a field sent,
        another value than was sent: 1C cuts strings to the attribute's length and ignores
        unknown fields without an error (INTERFACE.md §4), so an answer of 200 is not yet
        a value written. The error carries the version the write produced."""
        try:
            found = differences(self.client.metadata(), spec.entity, body, stored, self.tz)
        except BadValue as exc:  # 1C took the write, but its answer cannot be read as its types: not "sent"
            raise OneCStoredOtherwise(f"{self.name}: {what}: 1C's answer holds a value not of its declared type, so "
                                      f"the write cannot be checked: {exc}", remote_id=remote_id, version=version,
                                      fields=sorted(stored)) from exc
        if found:
            raise OneCStoredOtherwise(f"{self.name}: {what}: " + "; ".join(found.values()), remote_id=remote_id,
                                      version=version, fields=sorted(found))

    def describe(self) -> dict[str, dict[str, str]]:
        """Entity set → {field: Edm type} from ``$metadata`` (``mapping check`` and ``suggest``).

        Tabular-section row types are listed too, under their row type name (the name inside
        a ``Collection(StandardODATA.<row type>)`` field type).
        """
        meta = self.client.metadata()
        found: dict[str, dict[str, str]] = {}
        for entity_set in meta.entity_sets:
            entity = meta.entity(entity_set)
            found[entity_set] = {name: p.type for name, p in entity.properties.items()} if entity else {}
        for row_type, props in meta.complex_types.items():
            found.setdefault(row_type, {name: p.type for name, p in props.items()})
        return found

    def describe_references(self) -> dict[str, dict[str, str]]:
        """Entity set → {reference field: the entity set it points to} from ``$metadata``
        (``mapping check`` finds a ``ref:`` or ``lookup:`` aimed at the wrong object)."""
        meta = self.client.metadata()
        return {entity_set: found for entity_set in meta.entity_sets if (found := meta.references(entity_set))}

    def describe_lengths(self) -> dict[str, dict[str, int]]:
        """Entity set → {string field: MaxLength} where ``$metadata`` gives one (``mapping
        check`` finds a written value 1C would cut). Real publications have been seen
        without MaxLength (INTERFACE.md §2): there the check after each write finds it."""
        meta = self.client.metadata()
        found: dict[str, dict[str, int]] = {}
        for entity_set in meta.entity_sets:
            entity = meta.entity(entity_set)
            lengths = {n: p.max_length for n, p in entity.properties.items() if p.max_length} if entity else {}
            if lengths:
                found[entity_set] = lengths
        return found

    def find(self, spec: MappingSpec, field: str, value: str) -> tuple[str, str | None] | None:
        """The record whose `field` equals `value` (a correlation key), with its version."""
        posting = self._posts(spec)
        select = [spec.key] + ([spec.version] if spec.version else []) + (["Posted"] if posting else [])
        rows = self.client.query(spec.entity, select=select, filter=f"{field} eq {string_literal(value)}", top=2)
        if not rows:
            return None
        row = rows[0]
        key = str(row[spec.key])
        version = spec.version_of(row)
        if posting and not row.get("Posted"):  # created by an attempt whose answer was lost, not yet posted
            version = self._post_created(spec, key, version)
        return key, version

    def find_many(self, spec: MappingSpec, field: str, values: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """``find`` for many correlation keys: one ``$filter`` of ``or``-ed keys a request
        (as many as 1C's URL length takes, ``max_query_string``); value → key, version."""
        posting = self._posts(spec)
        select = [spec.key, field] + ([spec.version] if spec.version else []) + (["Posted"] if posting else [])
        found: dict[str, tuple[str, str | None]] = {}
        for row in self.client.any_of(spec.entity, [f"{field} eq {string_literal(v)}" for v in values], select=select):
            value, key, version = str(row.get(field)), str(row[spec.key]), spec.version_of(row)
            if value in found:
                continue  # two records with one key: the first, as ``find`` takes
            if posting and not row.get("Posted"):  # created by an attempt whose answer was lost, not yet posted
                version = self._post_created(spec, key, version)
            found[value] = key, version
        return found

    def complete_create(self, spec: MappingSpec, key: str, expected_version: str | None = None) -> str | None:
        """A record crm-bridge created that an import met first (and bound, at
        `expected_version`): finish what creating it includes — post the document, when
        its model is in ``post_created`` and 1C holds it unposted. Returns its version
        after that; None when nothing was done, or when the record changed in 1C since the
        import read it (that version is not ours alone: the next import reads it again)."""
        if not self._posts(spec):
            return None
        row = self.client.get(spec.entity, key, select=[spec.key, "Posted", *([spec.version] if spec.version else [])])
        if row.get("Posted"):
            return None
        before = spec.version_of(row)
        after = self._post_created(spec, key, before)
        return None if expected_version is not None and before != expected_version else after

    def _posts(self, spec: MappingSpec) -> bool:
        """Whether records of `spec`'s model that crm-bridge creates are posted (documents only)."""
        return spec.model in self.config.post_created and spec.entity.startswith("Document_")

    def _post_created(self, spec: MappingSpec, key: str, version: str | None) -> str | None:
        """Post a document crm-bridge created; its version afterwards. A posting 1C refuses
        leaves a draft, logged with 1C's reason; a passing fault raises (``OneCUnavailable``):
        the outbox tries again, finds the record by its correlation key and posts it then."""
        try:
            self.client.post_document(spec.entity, key)
        except OneCRejected as exc:
            log.warning("%s: created %s %s but 1C refused to post it: %s; it stays a draft in 1C", self.name,
                        spec.entity, key, exc, extra={"event": "onec.post.refused", "backend": self.name})
            return version
        if not spec.version:
            return version
        try:
            return spec.version_of(self.client.get(spec.entity, key, select=[spec.version]))
        except (OneCRejected, OneCUnavailable):  # the next import reads the new version anyway
            return version

    def _unlookup(self, spec: MappingSpec, values: dict[str, Any]) -> dict[str, Any]:
        """Looked-up values (a state's name) back to the reference key 1C stores."""
        tables = self._lookups(spec)
        out = dict(values)
        for source, table in tables.items():
            if source in out and out[source] is not None:
                keys = [key for key, name in table.items() if name == out[source]]
                if not keys:
                    raise OneCRejected(f"{self.name}: no {source} named {out[source]!r} in 1C; known: {', '.join(map(str, table.values()))}")
                out[source] = keys[0]
        return out

    def create(self, spec: MappingSpec, values: dict[str, Any]) -> tuple[str, str | None]:
        """POST a new record; returns its key and version as 1C stored it. A document of a
        model in ``post_created`` is then posted (``_post_created``); the record exists and
        is bound whatever the posting does, never created twice.

        Raises:
            OneCStoredOtherwise: created, but 1C stored a field otherwise than sent; the
                error carries the new record's key and version (bind it, park the row).
        """
        body = to_wire(self.client.metadata(), spec.entity, self._unlookup(spec, values), self.tz)
        stored = self.client.post(spec.entity, body)
        key = str(stored[spec.key])
        version = spec.version_of(stored)
        version = self._post_created(spec, key, version) if self._posts(spec) else version
        self._verified(spec, f"POST {spec.entity} (created {key})", key, version, body, stored)
        return key, version

    def check(self) -> list[dict[str, Any]]:
        """Reach 1C, log in, and find every mapped entity set and field published.

        Returns one ``{"ok": bool, "detail": str}`` per finding; what is missing comes with
        what to add to the standard OData interface content in 1C.
        """
        meta = self.client.metadata(refresh=True)
        found: list[dict[str, Any]] = [
            {"ok": True, "detail": f"{self.config.url}: reached, logged in, {len(meta.entity_sets)} entity sets published; "
                                   f"its dates read as {self.config.timezone} wall time" + (
                                       "" if "timezone" in self.config.model_fields_set
                                       else " (the default: set timezone: if the 1C server keeps another zone)")}
        ]
        for model in self.config.models:
            path = self.mappings_dir / f"{model}.yaml"
            if not path.is_file():
                found.append({"ok": False, "detail": f"{model}: mapping file {path} is missing"})
                continue
            try:
                spec = load_mapping(path)
            except ConfigError as exc:  # this model alone: the others are checked
                found.append({"ok": False, "detail": f"{model}: {exc}"})
                continue
            entity = meta.entity(spec.entity)
            if entity is None:
                found.append({"ok": False, "detail": (
                    f"{model}: {spec.entity} is not published; add it to the standard OData interface content "
                    "(Администрирование → Настройка стандартного интерфейса OData)")})
                continue
            missing = [f for f in spec.remote_fields() if f not in entity.properties]
            lookups = [f.lookup.entity for f in spec.fields.values() if f.lookup and meta.entity(f.lookup.entity) is None]
            written = _written_fields(spec)
            problems = []
            read = [f for f in missing if f not in written]
            if read:  # the standard interface publishes every attribute of a published object
                problems.append(f"has no field {', '.join(read)} — this configuration names it differently or lacks it: "
                                f"see `crm-bridge onec inspect --entity {spec.entity}` and fix the mapping {path}")
            added = [f"{f} ({written[f]})" for f in missing if f in written]
            if added:
                problems.append(f"has no attribute {', '.join(added)}, which crm-bridge writes back — add "
                                f"{'it' if len(added) == 1 else 'them'} to {_object_name(spec.entity)} in a configuration "
                                "extension (the standard OData interface then publishes them with the object), or drop "
                                f"{'it' if len(added) == 1 else 'them'} from the mapping {path}")
            try:  # published is not readable: the user's roles decide (and row-level security)
                self.client.query(spec.entity, select=[spec.key], top=1)
            except OneCRejected as exc:
                problems.append(f"is published but cannot be read: {exc}")
            if model in self.config.post_created and not self._posts(spec):
                problems.append(f"is in post_created, but only documents are posted; remove {model} from post_created")
            elif self._posts(spec) and "Post" not in meta.actions.get(meta.entity_sets[spec.entity], ()):
                # 1C binds Post/Unpost in $metadata to exactly the document types that are posted (INTERFACE.md §2, $metadata)
                problems.append(f"is in post_created, but 1C offers no Post for it: this document type is not posted in "
                                f"this configuration (Проведение: Запретить); remove {model} from post_created")
            kinds = self._composite_refs(spec)
            query = self.client.query_string_length(spec.entity, self._select(spec, kinds), self.config.page_size)
            if query > self.config.max_query_string:
                problems.append(f"a page read with its {len(spec.remote_fields())} mapped fields makes a query string of "
                                f"{query} bytes, over max_query_string ({self.config.max_query_string}): raise the web "
                                "server's limit (IIS: requestFiltering/requestLimits maxQueryString) and max_query_string "
                                "with it, or map fewer fields")
            if lookups:
                problems.append(f"looks values up in {', '.join(lookups)}, which is not published — add it to the standard "
                                "OData interface content (Администрирование → Настройка стандартного интерфейса OData)")
            if problems:
                found.append({"ok": False, "detail": f"{model}: {spec.entity} " + "; ".join(problems)})
            else:
                composite = "".join(f"; {f.source} may point at other kinds of object ({f.source}_Type): only its "
                                    f"{kinds[f.source]} references are read as {f.ref}"
                                    for f in spec.fields.values() if f.source in kinds)
                found.append({"ok": True, "detail": f"{model}: {spec.entity}, {len(spec.remote_fields())} mapped fields published"
                                                    + composite})
        if self.change_feed:
            found.append(self.check_exchange_plan())
        return found

    def close(self) -> None:
        self.client.close()


#: canonical kind -> the 1C attribute type that holds it
_ONEC_TYPES = {"datetime": "Дата, состав: дата и время", "bool": "Булево", "int": "Число",
               "text": "Строка", "enum": "Строка", "any": "Строка"}
_OBJECT_KINDS = {"Document": "документ", "Catalog": "справочник", "BusinessProcess": "бизнес-процесс", "Task": "задача"}


def _written_fields(spec: MappingSpec) -> dict[str, str]:
    """Remote fields crm-bridge writes (owner local/newest, the correlation key) -> the 1C
    type they need."""
    kinds = {name: f.kind for name, f in canonical_fields(spec.model).items()}
    written = {spec.correlation: _ONEC_TYPES["text"]} if spec.correlation else {}
    for name, field in spec.fields.items():
        if field.owner != "remote" and field.source:
            written[field.source] = _ONEC_TYPES.get(kinds.get(name, "any"), "Строка")
    return written


def _object_name(entity_set: str) -> str:
    """``Document_Интерес`` -> ``документ «Интерес»`` (how 1C's configurator names it)."""
    kind, _, name = entity_set.partition("_")
    return f"{_OBJECT_KINDS[kind]} «{name}»" if kind in _OBJECT_KINDS and name else entity_set
