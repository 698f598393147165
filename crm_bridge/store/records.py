"""Create and update canonical records by model name, reporting what changed.

Values are validated through the canonical pydantic model first, so nothing that breaks
the contract (a naive datetime, an unknown status) reaches the store.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import String, any_, bindparam, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement

from crm_bridge.model import MODELS, fields_of
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.tables import (
    AgentRow,
    AttachmentRow,
    Base,
    ContactRow,
    CustomerRow,
    MailRow,
    NoteRow,
    TeamRow,
    TicketRow,
    core_table,
)

__all__ = ["IN_CHUNK", "ROWS", "among", "build_record", "create_record", "in_chunks", "insert_records", "new_record_values", "record_values", "row_values",
           "rows_by_id", "update_record", "without_empty"]

T = TypeVar("T")
_PLAIN = (str, int, float, bool, bytes, datetime, Decimal, Any)
IN_CHUNK = 500  # values per IN (...) list: well under every database's parameter limit

ROWS: dict[str, type[Base]] = {
    "customer": CustomerRow,
    "contact": ContactRow,
    "agent": AgentRow,
    "team": TeamRow,
    "ticket": TicketRow,
    "note": NoteRow,
    "mail": MailRow,
    "attachment": AttachmentRow,
}


def _validated(model: str, fields: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field of the model (defaults filled), validated; enums as their values."""
    return _plain(model, _validate(model, {**(base or {}), **fields}))


def _validate(model: str, fields: dict[str, Any]) -> Any:
    # The model's own validator, called as ``model_validate`` calls it: the wrapper's
    # argument handling cost an import as much as a fifth of the validation itself.
    return MODELS[model].__pydantic_validator__.validate_python(fields)


def _plain(model: str, checked: Any) -> dict[str, Any]:
    # the validated values as they are (flat models: model_dump would only copy them again)
    values = dict(checked.__dict__)
    for name in _may_hold_enums(model):
        if isinstance(value := values[name], Enum):
            values[name] = value._value_  # ``.value`` is a descriptor: several times slower per value
    return values


@functools.cache
def _may_hold_enums(model: str) -> tuple[str, ...]:
    """Fields whose validated value can be an enum member (only those are looked at, per record)."""
    return tuple(name for name, info in fields_of(model).items() if not _plain_types(info.annotation))


def _plain_types(annotation: Any) -> bool:
    """Whether a value of `annotation` is never an enum member (str, int, datetime … or unions of them)."""
    if annotation in _PLAIN or annotation is type(None):
        return True
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (list, dict, tuple, set, frozenset):
        return True  # a container is not an enum (its items are left as validated, as before)
    return bool(args) and origin in (typing.Union, types.UnionType) and all(_plain_types(a) for a in args)


def row_values(model: str, row: Base) -> dict[str, Any]:
    """The canonical fields of a stored row."""
    return {name: getattr(row, name) for name in fields_of(model)}


def _nullable(model: str, name: str) -> bool:
    info = fields_of(model).get(name)
    return info is None or info.default is None


def record_values(model: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Every column value of a new record, validated. An empty remote value (``None``) of a
    field that cannot be empty leaves the model's default (a request with no state is ``new``).

    Raises:
        ValueError: the values break the canonical model (pydantic's message).
    """
    return _validated(model, without_empty(model, fields))


def new_record_values(model: str, fields: dict[str, Any], shown: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """``record_values``, and from the same validation the values of the fields in `shown`
    it was given, for a JSON column (an import's merge base): a new record's values are
    validated once, not once for the row and again for what is kept beside it. The
    second dict's order is not `shown`'s.

    Those values are JSON's types, as ``fields_to_json`` makes them, except datetimes,
    which stay datetimes: pydantic-core writes a JSON column (``store.engine._json_text``)
    and writes a datetime as the very text ``fields_to_json`` would have made of it, so the
    stored base is the same, without a serialisation per record to get there.

    Raises:
        ValueError: the values break the canonical model (pydantic's message).
    """
    given = without_empty(model, fields)
    checked = _validate(model, given)
    values = _plain(model, checked)
    # Sets, not a loop of two tests per field and record: the values come back in no
    # particular order (a caller that keeps an order takes it from its own fields).
    named, as_is = given.keys() & shown, _json_as_is(model)
    kept = {k: values[k] for k in named & as_is}
    wanted = named - as_is
    if wanted:  # ``model_dump(mode="json", include=...)``, without the wrapper's argument handling
        kept.update(checked.__pydantic_serializer__.to_python(checked, mode="json", include=wanted))
    return values, kept


@functools.cache
def _json_as_is(model: str) -> frozenset[str]:
    """Fields whose validated value (``_plain``: an enum as its value) a JSON column takes as
    it is: str, int, bool, an str enum, a datetime, None, lists of str or int — not a float
    (JSON has no infinity) or anything else whose JSON form pydantic decides."""
    return frozenset(name for name, info in fields_of(model).items() if _as_json(info.annotation))


def _as_json(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation in (str, int, bool, datetime, type(None)) or (
            isinstance(annotation, type) and issubclass(annotation, Enum) and issubclass(annotation, str)):
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return len(args) == 1 and args[0] in (str, int)
    return bool(args) and origin in (typing.Union, types.UnionType) and all(_as_json(a) for a in args)


def without_empty(model: str, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` without the empty remote values (``None``) of fields that cannot be empty:
    a new record takes the model's default there, an existing one keeps its value."""
    required = _required(model)
    return {k: v for k, v in fields.items() if v is not None or k not in required}


@functools.cache
def _required(model: str) -> frozenset[str]:
    """Fields that cannot be empty (``_nullable`` false): asked per value of an import."""
    return frozenset(name for name in fields_of(model) if not _nullable(model, name))


def build_record(model: str, fields: dict[str, Any]) -> Base:
    """A validated new row, not yet in any session (see ``record_values``)."""
    return ROWS[model](**record_values(model, fields))


def insert_records(session: Session, model: str, values: list[dict[str, Any]]) -> list[int]:
    """Insert new records (``record_values`` each) in one ``executemany``, without a row
    object each; returns their ids in order. Rows a caller needs as objects afterwards are
    read back in one query (``rows_by_id``), which costs a third of building and flushing them.

    On SQLite the ids are numbered here, max + 1 (every transaction holds the write lock
    from its start, see ``store.engine``); elsewhere the database returns them in order.
    """
    if not values:
        return []
    table = core_table(ROWS[model])
    if session.get_bind().dialect.name == "sqlite":
        top = session.execute(select(func.max(table.c.id))).scalar() or 0
        ids = list(range(top + 1, top + 1 + len(values)))
        bulk_insert(session, table, values, by_column={"id": ids})  # the ids beside the values: no row copied
        return ids
    returned = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), values)
    return [int(i) for i in returned.scalars()]


def create_record(session: Session, model: str, fields: dict[str, Any]) -> int:
    """Insert a record now; returns its local id (a page of them: ``build_record`` + one flush)."""
    row = build_record(model, fields)
    session.add(row)
    session.flush()
    return int(row.id)  # type: ignore[attr-defined]


def update_record(session: Session, model: str, local_id: int, fields: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Apply `fields` to a record; returns ``{field: (old, new)}`` for what really changed."""
    row = session.get(ROWS[model], local_id)
    if row is None:
        msg = f"{model} {local_id} does not exist"
        raise LookupError(msg)
    values = {k: v for k, v in _validated(model, fields, row_values(model, row)).items() if k in fields}
    changed: dict[str, tuple[Any, Any]] = {}
    for name, new in values.items():
        old = getattr(row, name)
        if old != new:
            changed[name] = (old, new)
            setattr(row, name, new)
    return changed


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """`values` in slices of `size`: one ``IN (...)`` query each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)`` with the values as one parameter: a JSON array read by
    ``json_each`` on SQLite, an array compared with ``= ANY`` on PostgreSQL. An ``IN`` of
    500 values bound one by one costs SQLAlchemy a bind parameter, a coercion and a
    rendered placeholder per value and execution (1-2 ms a query); this costs one, and the
    statement is compiled once. For ints and strings (ids, keys)."""
    listed = list(values)
    condition: ColumnElement[bool]
    if session.get_bind().dialect.name == "postgresql":
        condition = column == any_(bindparam(None, listed, type_=ARRAY(column.type)))
    else:
        array = func.json_each(bindparam(None, json.dumps(listed), type_=String))
        condition = column.in_(select(literal_column("value")).select_from(array).scalar_subquery())
    return condition


def rows_by_id(session: Session, row: type[Any], ids: Iterable[int | None],
               columns: Sequence[Any] | None = None) -> dict[int, Any]:
    """Rows by id: from the session when it holds them (an import's page), the rest one
    query per ``IN_CHUNK`` — as objects, or as tuples of `columns` (the first is the id)
    where a row tuple serves. The caller keeps the result: the identity map holds rows weakly."""
    found: dict[int, Any] = {}
    wanted: list[int] = []
    # The ids of `row` the session holds, from one pass over its identity map: an identity
    # key built for every id cost more than the query (a planner's session holds none).
    kind = identity_key(row, 0)[0]
    holds = {key[1][0] for key in session.identity_map.keys() if key[0] is kind and len(key[1]) == 1}  # noqa: SIM118
    for i in sorted({i for i in ids if i is not None}):
        held = session.identity_map.get(identity_key(row, i)) if i in holds else None
        if held is None:
            wanted.append(i)
        else:
            found[i] = held
    for chunk in in_chunks(wanted):
        if columns is None:
            found.update({r.id: r for r in session.scalars(select(row).where(among(session, row.id, chunk)))})
        else:
            found.update({r[0]: r for r in session.execute(select(*columns).where(among(session, columns[0], chunk)))})
    return found
