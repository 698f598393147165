"""1C wire values ↔ Python values, typed by the ``$metadata`` types, never by the payload.

Real 1C writes exchange-plan packages (Atom) with **no** ``m:type`` on scalars: every
value is element text, ``<d:DeletionMark>false</d:DeletionMark>`` (and ``bool("false")``
is true in Python); its JSON carries Int64 as strings. So a value is read by the EDM type
``$metadata`` declares for its property, from either form — a JSON value or an Atom
element's text (INTERFACE.md §2, §7a):

==========================  =====================================  ==========================
EDM type                    on the wire                            read as
==========================  =====================================  ==========================
``Edm.Boolean``             ``true`` · ``"true"``/``"false"``/1/0  ``bool``
``Edm.Int16/32/64``,        ``7`` · ``"7"``                        ``int``, range checked
``Byte``, ``SByte``
``Edm.Decimal``             ``1.5`` · ``"1.5"``                    ``Decimal``
``Edm.Double``, ``Single``  ``1.5`` · ``"1.5"``, ``INF``, ``NaN``  ``float``
``Edm.DateTime``            ``"2024-03-18T10:42:07"`` (no zone)    aware, in the backend's
                                                                   zone; ``0001-01-01T00:00:00``
                                                                   (the empty date) → None
``Edm.DateTimeOffset``      with an offset                         aware
``Edm.Guid``                ``"…-0a1b2c3d4e01"``                   the text; ``00000000-…``
                                                                   (the empty reference) → None
``Edm.String``              text                                   the text; a composite field
                                                                   (``Foo`` + ``Foo_Type``)
                                                                   holding the empty reference
                                                                   → None
``Collection(…)``           rows; ``""`` (an empty Atom section)   rows, each value read by
                                                                   the row type
==========================  =====================================  ==========================

``Foo_Type`` stays as 1C sends it (``StandardODATA.Catalog_X``), so a reference is never
read without the type that says where it points. A property ``$metadata`` does not list
is left as it came. A value that does not parse as its type raises ``BadValue`` naming the
field, the value and what is valid — never a silent default: the caller refuses the
record and keeps its package unacknowledged.

Writing converts an aware datetime to the backend's local wall clock, without offset,
and ``None`` to 1C's empty sentinels. 1C's dates run from 0001-01-01 to 3999-12-31: a
datetime past that is refused (``OneCRejected`` naming the field), never sent — 1C would
refuse or misread it, and a due date in year 5024 is a configuration fault to fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, cast
from zoneinfo import ZoneInfo

from adapters.onec.errors import OneCRejected
from adapters.onec.metadata import Metadata, Property

__all__ = ["EMPTY_DATE", "EMPTY_REF", "BadValue", "from_wire", "read_value", "to_wire"]

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"

_INTEGERS = {"Edm.Byte": (0, 255), "Edm.SByte": (-128, 127), "Edm.Int16": (-(2**15), 2**15 - 1),
             "Edm.Int32": (-(2**31), 2**31 - 1), "Edm.Int64": (-(2**63), 2**63 - 1)}
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SPECIAL_DOUBLES = {"INF": math.inf, "-INF": -math.inf, "NaN": math.nan}
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}  # xsd:boolean, as OData Atom writes it
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,7}))?)?(Z|[+-]\d\d:\d\d)?")


class BadValue(ValueError):
    """Values that are not of the type ``$metadata`` declares for their properties.

    ``problems``: (field, what is wrong and what is valid) each; a tabular section's field
    is named ``Section[line].Field``.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{field}: {why}" for field, why in self.problems))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(field for field, _ in self.problems)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _bad(prop: Property, value: Any, expected: str) -> BadValue:
    return BadValue([(prop.name, f"{_shown(value)} is not {expected} ({prop.type})")])


def _datetime(prop: Property, value: Any, tz: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        raise _bad(prop, value, "a date and time YYYY-MM-DDTHH:MM:SS")
    if value in ("", EMPTY_DATE):
        return None  # no date, or 1C's empty date (most of a request's deadlines): no parse
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise _bad(prop, value, "a date and time YYYY-MM-DDTHH:MM:SS")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if (year, month, day) == ("0001", "01", "01"):
        return None  # 1C's empty date
    try:
        zone: Any = tz if offset is None else (UTC if offset == "Z" else timezone(
            (-1 if offset[0] == "-" else 1) * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))))
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                        int((fraction or "0")[:6].ljust(6, "0")), tzinfo=zone)
    except ValueError as exc:  # month 13, hour 25, an offset over a day
        raise _bad(prop, value, f"a valid date and time ({exc})") from None


def _integer(prop: Property, value: Any) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INTEGER.fullmatch(value))):
        raise _bad(prop, value, "a whole number")
    number = int(value)
    low, high = _INTEGERS[prop.type]
    if not low <= number <= high:
        raise _bad(prop, value, f"a whole number from {low} to {high}")
    return number


def _decimal(prop: Property, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad(prop, value, "a number")
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise _bad(prop, value, "a number such as 1234.56")
    try:
        number = Decimal(str(value))  # str(): a JSON float's shortest text, not its binary expansion
    except InvalidOperation:
        raise _bad(prop, value, "a number") from None
    if not number.is_finite():
        raise _bad(prop, value, "a finite number")
    return number


def _double(prop: Property, value: Any) -> float:
    if isinstance(value, str) and value in _SPECIAL_DOUBLES:
        return _SPECIAL_DOUBLES[value]
    if isinstance(value, bool) or not (isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value))):
        raise _bad(prop, value, "a number")
    return float(value)


def _boolean(prop: Property, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _BOOLEANS:
        return _BOOLEANS[value]
    raise _bad(prop, value, "a boolean, true or false")


def _guid(prop: Property, value: Any) -> str | None:
    if value in ("", EMPTY_REF):
        return None
    if not isinstance(value, str) or not _GUID.fullmatch(value):
        raise _bad(prop, value, "a reference key (GUID)")
    return value


_Read = Callable[[Any], Any]


def _typed_reader(prop: Property, props: dict[str, Property], tz: ZoneInfo, meta: Metadata) -> _Read | None:
    """What reads a non-null wire value of `prop`, decided once from its EDM type: None
    when the value stays as it came (a plain string, binary text, an enum's name).

    ``read_value`` and ``from_wire`` both read through it, so a value is typed the same
    whichever asks; ``from_wire`` keeps the reader per set and field, and a tabular
    section keeps one per row field, so a value costs one call, not the type's questions.
    """
    kind = prop.type
    if prop.is_collection:
        return _rows_reader(prop, tz, meta)
    if kind == "Edm.Boolean":
        return lambda value: _boolean(prop, value)
    if kind in _INTEGERS:
        return lambda value: _integer(prop, value)
    if kind == "Edm.Decimal":
        return lambda value: _decimal(prop, value)
    if kind in ("Edm.Double", "Edm.Single"):
        return lambda value: _double(prop, value)
    if kind in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return lambda value: _datetime(prop, value, tz)
    if kind == "Edm.Guid":
        return lambda value: _guid(prop, value)
    if kind == "Edm.String" and f"{prop.name}_Type" in props:  # a composite field: the empty reference is no value
        return lambda value: None if value == EMPTY_REF else value
    return None  # Edm.String (a composite field's primitive too), Edm.Binary, an enum's name


def _rows_reader(prop: Property, tz: ZoneInfo, meta: Metadata) -> _Read:
    """What reads a tabular section: its rows, each value by the row type's field. The
    readers of the row fields are worked out for the first row and kept for the others
    (a partner's contact rows: a dozen values a record)."""
    row_type = meta.row_type(prop)
    readers: dict[str, _Read | None] = {}

    def field_reader(name: str) -> _Read | None:
        read = readers.get(name, _UNASKED)
        if read is _UNASKED:
            row_prop = row_type.get(name)
            read = readers[name] = None if row_prop is None else _typed_reader(row_prop, row_type, tz, meta)
        return cast("_Read | None", read)

    def rows(value: Any) -> list[dict[str, Any]]:
        if value == "":
            return []  # an empty tabular section in Atom: the element without rows
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise _bad(prop, value, "a list of rows")
        read_rows: list[dict[str, Any]] = []
        problems: list[tuple[str, str]] = []
        for line, item in enumerate(value, start=1):
            row: dict[str, Any] = {}
            for name, raw in item.items():
                read = field_reader(name)
                if read is None or raw is None:
                    row[name] = raw
                    continue
                try:
                    row[name] = read(raw)
                except BadValue as exc:
                    problems += [(f"{prop.name}[{line}].{field}", why) for field, why in exc.problems]
            read_rows.append(row)
        if problems:
            raise BadValue(problems)
        return read_rows

    return rows


def read_value(prop: Property | None, value: Any, tz: ZoneInfo, meta: Metadata,
               props: dict[str, Property]) -> Any:
    """One wire value (JSON, or an Atom element's text) as the Python value its declared type says.

    Args:
        prop: the property in ``$metadata`` (None: not listed there, left as it came).
        tz: the backend's zone, in which 1C's naive dates are read.
        props: the properties of the record's type (a composite field's ``Foo_Type``).

    Raises:
        BadValue: the value is not of the declared type.
    """
    if prop is None or value is None:
        return value
    read = _typed_reader(prop, props, tz, meta)
    return value if read is None else read(value)


_SKIP = object()  # a name from_wire drops: an ``odata.*`` annotation, a navigation link
_UNASKED = object()
# (id of the metadata, set, zone) -> (the metadata, then what each name met is read by)
_READERS: dict[tuple[int, str, ZoneInfo], tuple[Metadata, dict[str, object]]] = {}


def _reader(name: str, props: dict[str, Property], tz: ZoneInfo, meta: Metadata) -> object:
    """How ``from_wire`` reads a name's non-null values: ``_SKIP``, None (as they came: not
    in ``$metadata``, or a plain string) or the type's reader (``_typed_reader``)."""
    if "@" in name or name.startswith("odata."):
        return _SKIP
    prop = props.get(name)
    return None if prop is None else _typed_reader(prop, props, tz, meta)


def from_wire(meta: Metadata, entity_set: str, record: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """A 1C record — JSON, or an Atom entry's element texts — to Python values, by ``$metadata``
    (navigation links and ``odata.*`` annotations dropped).

    What reads each field is worked out once per set and name (``_reader``), not per value:
    a page of a thousand records of forty fields asked the same questions 40,000 times.

    Raises:
        BadValue: naming every field whose value is not of its declared type.
    """
    key = (id(meta), entity_set, tz)
    held = _READERS.get(key)
    if held is None or held[0] is not meta:
        if len(_READERS) > 64:  # metadata read again (a new publication): the old readers go
            _READERS.clear()
        held = _READERS[key] = (meta, {})
    readers = held[1]
    props: dict[str, Property] | None = None
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, value in record.items():
        read = readers.get(name, _UNASKED)
        if read is _UNASKED:
            if props is None:
                entity = meta.entity(entity_set)
                props = entity.properties if entity else {}
            read = readers[name] = _reader(name, props, tz, meta)
        if read is _SKIP:
            continue
        if read is None or value is None:
            values[name] = value
            continue
        try:
            values[name] = cast(_Read, read)(value)
        except BadValue as exc:
            problems += exc.problems
    if problems:
        raise BadValue(problems)
    return values


def _write(prop: Property | None, value: Any, tz: ZoneInfo) -> Any:
    kind = prop.type if prop else None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"naive datetime {value.isoformat()} cannot be sent to 1C; attach a time zone"
            raise ValueError(msg)
        return value.astimezone(tz).replace(tzinfo=None, microsecond=0).isoformat()
    if value is None:
        if kind == "Edm.DateTime":
            return EMPTY_DATE
        if kind == "Edm.Guid":
            return EMPTY_REF
        if kind == "Edm.String":
            return ""
        return None
    if kind == "Edm.Int64":
        return str(value)
    return value


_LAST_YEAR = 3999  # 1C's Дата holds 0001-01-01 .. 3999-12-31 (local wall clock)


def to_wire(meta: Metadata, entity_set: str, values: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Python values → the JSON body 1C expects.

    Raises:
        OneCRejected: a datetime outside 1C's date range (the row is parked with the reason).
    """
    entity = meta.entity(entity_set)
    props = entity.properties if entity else {}
    for name, value in values.items():
        if isinstance(value, datetime) and value.tzinfo is not None and value.year >= _LAST_YEAR:
            try:
                local_year = value.astimezone(tz).year
            except OverflowError:
                local_year = _LAST_YEAR + 1
            if local_year > _LAST_YEAR:
                msg = (f"{entity_set}.{name}: {value.isoformat()} is past 3999-12-31, the last date 1C stores; "
                       "not sent. Check the SLA targets (a duration of years?) and write the row again")
                raise OneCRejected(msg)
    out: dict[str, Any] = {}
    for name, value in values.items():
        prop = props.get(name)
        if prop is not None and prop.is_collection and isinstance(value, list):
            out[name] = _section(meta.row_type(prop), value, tz)
        else:
            out[name] = _write(prop, value, tz)
    return out


def _section(row_type: dict[str, Property], rows: list[Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """A whole tabular section as 1C takes it in a PATCH, which replaces the section:
    ``LineNumber`` 1..n in the order given (1C refuses gaps and rows without one,
    INTERFACE.md §4), each row's values written by the row type."""
    return [{**{k: _write(row_type.get(k), v, tz) for k, v in row.items() if k != "LineNumber"},
             "LineNumber": str(line)} for line, row in enumerate(rows, start=1)]
