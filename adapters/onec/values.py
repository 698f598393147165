"""1C wire values ↔ Python values, driven by the ``$metadata`` types.

* ``Edm.DateTime`` comes naive (``2024-03-18T10:42:07``) in the base's local time: it is
  read in the backend's time zone; ``0001-01-01T00:00:00`` (the empty date) is ``None``.
  Writing converts an aware datetime to the backend's local wall clock, without offset.
* ``Edm.Guid`` ``00000000-…`` (the empty reference) is ``None``; so is a composite-type
  field (``Foo`` + ``Foo_Type``, Edm.String) holding the empty reference. ``Foo_Type``
  stays as 1C sends it (``StandardODATA.Catalog_X``), so a reference is never read
  without the type that says where it points.
* ``Edm.Int64`` travels as a JSON string: read as ``int``, written as a string.
* Tabular sections (``Collection(...)``) are lists of rows converted with the row type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.onec.metadata import Metadata, Property

__all__ = ["EMPTY_DATE", "EMPTY_REF", "from_wire", "to_wire"]

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"


def _read(prop: Property | None, value: Any, tz: ZoneInfo, meta: Metadata, props: dict[str, Property]) -> Any:
    if prop is None or value is None:
        return value
    kind = prop.type
    if kind == "Edm.String" and value == EMPTY_REF and f"{prop.name}_Type" in props:
        return None  # a composite-type field holding an empty reference
    if kind == "Edm.DateTime":
        if not value or value.startswith("0001-01-01"):
            return None
        return datetime.fromisoformat(value).replace(tzinfo=tz)
    if kind == "Edm.Guid":
        return None if value == EMPTY_REF else value
    if kind == "Edm.Int64" and isinstance(value, str):
        return int(value) if value.lstrip("-").isdigit() else value
    if prop.is_collection and isinstance(value, list):
        row = meta.row_type(prop)
        return [{k: _read(row.get(k), v, tz, meta, row) for k, v in item.items()} for item in value]
    return value


def from_wire(meta: Metadata, entity_set: str, record: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """A 1C JSON record → Python values (navigation links dropped)."""
    entity = meta.entity(entity_set)
    props = entity.properties if entity else {}
    return {k: _read(props.get(k), v, tz, meta, props) for k, v in record.items() if "@" not in k and not k.startswith("odata.")}


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


def to_wire(meta: Metadata, entity_set: str, values: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Python values → the JSON body 1C expects."""
    entity = meta.entity(entity_set)
    props = entity.properties if entity else {}
    return {k: _write(props.get(k), v, tz) for k, v in values.items()}
