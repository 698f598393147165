"""The emulated base's data and its write rules.

Rows are plain lists in the entity type's column order (see :mod:`.schema`), holding
values already in 1C's wire form — GUIDs lower-case, dates ``YYYY-MM-DDTHH:MM:SS``
(they sort and compare as strings), DataVersion base64 — except integers, kept as
int and turned into JSON strings on the way out. Tabular sections are tuples of row
tuples. That keeps a million requests in a few hundred megabytes.

Writes follow what GATE-P8/P9 saw on live bases: unknown properties are ignored,
``If-Match`` and a stale ``DataVersion`` change nothing, DataVersion is a per-object
8-byte counter bumped by *every* write, a tabular section in a PATCH replaces the
whole section and its ``LineNumber`` must be 1..n, and a posted document refuses a
deletion mark. A string longer than its attribute (``MaxLength`` in the EDMX) is cut to
it without a word (``truncate_strings``, GATE-P8): the answer shows what was stored, not
what was sent. One re-entrant lock guards everything; callers hold it while they read
rows (``with store.lock:``).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from .errors import ODataError, bad_literal, business_error, not_found
from .query import normalize_datetime, normalize_guid
from .schema import EntitySet, EntityType, Property, Schema

__all__ = [
    "EMPTY_DATE",
    "EMPTY_REF",
    "Store",
    "WriteListener",
    "data_version",
    "default_row",
]

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
UNDEFINED_TYPE = "StandardODATA.Undefined"
_VERSIONS = [base64.b64encode(n.to_bytes(8, "big")).decode("ascii") for n in range(64)]
#: ``listener(set_name, ref_key, action)`` after every committed write (lock held)
WriteListener = Callable[[str, str, str], None]


def data_version(counter: int) -> str:
    """8-byte big-endian counter in base64, like 1C's ``DataVersion`` (``AAAAAAAAAAE=``)."""
    if counter < len(_VERSIONS):
        return _VERSIONS[counter]
    return base64.b64encode(counter.to_bytes(8, "big")).decode("ascii")


def _next_version(version: str) -> str:
    try:
        counter = int.from_bytes(base64.b64decode(version), "big")
    except ValueError:
        counter = 0
    return data_version(counter + 1)


def default_value(etype: EntityType, prop: Property) -> Any:
    """The value 1C stores in an attribute nobody filled."""
    if prop.edm == "Edm.Guid":
        return EMPTY_REF
    if prop.edm == "Edm.Boolean":
        return False
    if prop.edm == "Edm.DateTime":
        return EMPTY_DATE
    if prop.is_number:
        return 0
    if etype.composite_type_column(prop.name):
        return None  # an unset composite ("Undefined") comes back as null
    if prop.name.endswith("_Type") and etype.composite_type_column(prop.name[:-5]):
        return UNDEFINED_TYPE
    return ""


def default_row(etype: EntityType) -> list[Any]:
    """A fresh row with every column at its empty value (sections empty)."""
    return [
        () if name in etype.sections else default_value(etype, etype.properties[name])
        for name in etype.columns
    ]


class Store:
    """All objects of the published reference sets, keyed by ``Ref_Key``."""

    def __init__(self, schema: Schema, clock: Callable[[], datetime], *, truncate_strings: bool = True) -> None:
        self.schema = schema
        self.clock = clock
        #: cut strings written longer than their attribute, as 1C does (off: store them whole)
        self.truncate_strings = truncate_strings
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, list[Any]]] = {
            name: {} for name, entity_set in schema.sets.items() if entity_set.is_object
        }
        self.counters: dict[str, int] = {}
        self.listeners: list[WriteListener] = []
        #: (set, Ref_Key) -> the 1C user holding the object open in a form: OData and SOAP
        #: writes to it fail with 1C's lock error until released (``UserActivity.hold``)
        self.held: dict[tuple[str, str], str] = {}

    # ----------------------------------------------------------------- reading
    def lookup(self, set_name: str, key: str) -> list[Any] | None:
        table = self.tables.get(set_name)
        return None if table is None else table.get(key)

    def rows(self, entity_set: EntitySet) -> Iterator[Sequence[Any]]:
        """Rows of a set in storage (insertion) order; tabular sets are built on the fly."""
        if entity_set.owner is None:
            yield from self.tables.get(entity_set.name, {}).values()
            return
        yield from self._section_rows(entity_set, self.tables.get(entity_set.owner, {}).values())

    def count(self, entity_set: EntitySet) -> int:
        if entity_set.owner is None:
            return len(self.tables.get(entity_set.name, {}))
        return sum(1 for _ in self.rows(entity_set))

    def section_row(self, entity_set: EntitySet, key: str, line: int) -> Sequence[Any] | None:
        owner = self.lookup(entity_set.owner or "", key)
        if owner is None:
            return None
        for row in self._section_rows(entity_set, [owner]):
            if row[entity_set.type.index["LineNumber"]] == line:
                return row
        return None

    def _section_rows(
        self, entity_set: EntitySet, owners: Iterable[list[Any]]
    ) -> Iterator[Sequence[Any]]:
        owner_type = self.schema.sets[entity_set.owner or ""].type
        section = owner_type.sections[entity_set.section or ""]
        ref_index, section_index = owner_type.index["Ref_Key"], owner_type.index[section.name]
        # row-set column → position in the section row tuple (None = owner's Ref_Key)
        mapping = [
            None if name == "Ref_Key" else section.row.index.get(name)
            for name in entity_set.type.columns
        ]
        for owner in owners:
            for line in owner[section_index]:
                yield [
                    owner[ref_index] if source is None and name == "Ref_Key"
                    else (line[source] if source is not None else None)
                    for name, source in zip(entity_set.type.columns, mapping, strict=True)
                ]

    # ----------------------------------------------------------------- writing
    def insert_seeded(self, set_name: str, row: list[Any]) -> None:
        """Add a generated row as-is (no events, no numbering): the seed already did it."""
        table = self.tables[set_name]
        table[row[self.schema.sets[set_name].type.index["Ref_Key"]]] = row

    def next_counter(self, name: str) -> int:
        self.counters[name] = self.counters.get(name, 0) + 1
        return self.counters[name]

    def create(self, set_name: str, body: Mapping[str, Any], ref_key: str) -> list[Any]:
        """POST: a new object with defaults, honouring a client ``Ref_Key`` if given."""
        entity_set = self.schema.sets[set_name]
        etype = entity_set.type
        index = etype.index
        with self.lock:
            table = self.tables[set_name]
            wanted = body.get("Ref_Key")
            if isinstance(wanted, str) and wanted and wanted != EMPTY_REF:
                ref_key = normalize_guid(wanted) or _raise(bad_literal(f"guid'{wanted}'"))
                if ref_key in table:
                    raise ODataError(400, "15", f"Сущность с таким ключом уже существует: {ref_key}")
            row = default_row(etype)
            row[index["Ref_Key"]] = ref_key
            if "DataVersion" in index:
                row[index["DataVersion"]] = data_version(0)
            self._apply(etype, row, body)
            self._number(entity_set, row)
            if "Date" in index and row[index["Date"]] == EMPTY_DATE:
                row[index["Date"]] = self.clock().replace(microsecond=0).isoformat()
            table[ref_key] = row
            self._notify(set_name, ref_key, "create")
            return row

    def patch(self, set_name: str, key: str, body: Mapping[str, Any], *,
              checks: bool = True) -> list[Any]:
        """PATCH: apply known properties, bump DataVersion even when nothing changed.

        ``checks`` False is 1C's data-load mode: business handlers (the posted-document
        deletion-mark refusal) are skipped.
        """
        etype = self.schema.sets[set_name].type
        with self.lock:
            row = self.lookup(set_name, key)
            if row is None:
                raise not_found()
            candidate = list(row)
            self._apply(etype, candidate, body)
            if checks:
                self._check_deletion_mark(set_name, row, candidate)
            if "DataVersion" in etype.index:
                candidate[etype.index["DataVersion"]] = _next_version(row[etype.index["DataVersion"]])
            row[:] = candidate
            self._notify(set_name, key, "update")
            return row

    def set_posted(self, set_name: str, key: str, *, posted: bool, operational: bool) -> list[Any]:
        """``/Post`` and ``/Unpost``; failures are 1C business errors (500, code -1)."""
        etype = self.schema.sets[set_name].type
        index = etype.index
        with self.lock:
            row = self.lookup(set_name, key)
            if row is None:
                raise not_found()
            module = f"Документ.{set_name.split('_', 1)[1]}.МодульОбъекта"
            if posted and row[index["DeletionMark"]]:
                raise business_error(module, "Помеченный на удаление документ не может быть проведен")
            today = self.clock().date().isoformat()
            if posted and operational and row[index["Date"]][:10] < today:
                raise business_error(
                    module, "Ошибка при проведении: оперативное проведение документа задним "
                    "числом невозможно. Используйте неоперативное проведение")
            row[index["Posted"]] = posted
            row[index["DataVersion"]] = _next_version(row[index["DataVersion"]])
            self._notify(set_name, key, "post" if posted else "unpost")
            return row

    def check_free(self, set_name: str, key: str) -> None:
        """A write (OData, a web service) to an object a 1C user holds open fails as in 1C:
        500, code -1, «Объект заблокирован» (a passing condition: the writer tries again later)."""
        user = self.held.get((set_name, key))
        if user is not None:
            raise ODataError(500, "-1", f"Не удалось записать: \"{set_name} {key}\"!\n"
                                        f"по причине: Объект заблокирован: Пользователь: {user}")

    def delete(self, set_name: str, key: str) -> None:
        with self.lock:
            if self.tables[set_name].pop(key, None) is None:
                raise not_found()
            self._notify(set_name, key, "delete")

    def _notify(self, set_name: str, key: str, action: str) -> None:
        for listener in self.listeners:
            listener(set_name, key, action)

    def _check_deletion_mark(self, set_name: str, old: list[Any], new: list[Any]) -> None:
        index = self.schema.sets[set_name].type.index
        if "Posted" not in index or "DeletionMark" not in index:
            return
        marking = new[index["DeletionMark"]] and not old[index["DeletionMark"]]
        if marking and old[index["Posted"]]:
            raise business_error(
                f"Документ.{set_name.split('_', 1)[1]}.МодульОбъекта",
                "Ошибка при установке пометки удаления: проведенный документ нельзя пометить "
                "на удаление. Сначала отмените проведение документа",
            )

    def _number(self, entity_set: EntitySet, row: list[Any]) -> None:
        """Auto-assign ``Number`` (documents, ``CRM-0000301``) or ``Code`` (catalogs)."""
        index = entity_set.type.index
        if "Number" in index and not row[index["Number"]]:
            row[index["Number"]] = f"CRM-{self.next_counter(entity_set.name):07d}"
        elif "Code" in index and not row[index["Code"]]:
            row[index["Code"]] = f"{self.next_counter(entity_set.name):09d}"

    def _apply(self, etype: EntityType, row: list[Any], body: Mapping[str, Any]) -> None:
        for name, value in body.items():
            if name in ("Ref_Key", "DataVersion", "Posted") or name not in etype.index:
                continue  # 1C ignores these silently (unknown names included)
            section = etype.sections.get(name)
            if section is not None:
                row[etype.index[name]] = _section_value(section.row, name, value, cut=self.truncate_strings)
            else:
                prop = etype.properties[name]
                row[etype.index[name]] = coerce(prop, value, row[etype.index[name]], cut=self.truncate_strings)


def coerce(prop: Property, value: Any, old: Any, *, cut: bool = True) -> Any:
    """JSON value → stored value for one property, the way 1C takes it. With `cut`, a
    string longer than the attribute's ``max_length`` keeps its first characters only.

    Raises:
        ODataError: 400 code 1 for a malformed Guid, Boolean or date.
    """
    edm = prop.edm
    if edm == "Edm.Guid":
        if value in (None, ""):
            return EMPTY_REF
        guid = normalize_guid(value) if isinstance(value, str) else None
        return guid if guid is not None else _raise(bad_literal(f"{prop.name}: {value!r}"))
    if edm == "Edm.Boolean":
        return value if isinstance(value, bool) else _raise(bad_literal(f"{prop.name}: {value!r}"))
    if edm == "Edm.DateTime":
        if value in (None, ""):
            return EMPTY_DATE
        stamp = normalize_datetime(value) if isinstance(value, str) else None
        return stamp if stamp is not None else _raise(bad_literal(f"{prop.name}: {value!r}"))
    if edm == "Edm.Binary":  # base64 in JSON; 1C refuses what does not decode
        if value in (None, ""):
            return ""
        try:
            base64.b64decode(value, validate=True) if isinstance(value, str) else _raise(bad_literal(prop.name))
        except (binascii.Error, ValueError):
            _raise(bad_literal(f"{prop.name}: not base64"))
        return value
    if prop.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return old  # GATE-P9: a non-numeric Int64 answers 200 and keeps the old value
    if prop.is_number:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        return old
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise ODataError(400, "4", f"Неверное значение свойства {prop.name}")
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    return text[:prop.max_length] if cut and prop.max_length is not None else text


def _section_value(row_type: EntityType, name: str, value: Any, *, cut: bool) -> tuple[tuple[Any, ...], ...]:
    """A tabular section from a write: replaces the whole section, LineNumber 1..n."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ODataError(400, "4", f"Неверное значение табличной части {name}")
    rows: list[tuple[Any, ...]] = []
    for position, item in enumerate(value, start=1):
        if "LineNumber" not in item:
            raise ODataError(500, "-1", f"Не задан номер строки (LineNumber) в табличной части {name}")
        line = item["LineNumber"]
        number = int(line) if isinstance(line, int | str) and str(line).isdigit() else -1
        if number != position:
            raise ODataError(
                400, "4", f"Неверный номер строки {line!r} в табличной части {name}: "
                f"ожидается {position} (строки нумеруются с 1 подряд)")
        row = default_row(row_type)
        row[row_type.index["LineNumber"]] = number
        for field, field_value in item.items():
            prop = row_type.properties.get(field)
            if prop is not None and field != "LineNumber":
                row[row_type.index[field]] = coerce(prop, field_value, row[row_type.index[field]], cut=cut)
        rows.append(tuple(row))
    return tuple(rows)


def _raise(error: ODataError) -> Any:
    raise error
