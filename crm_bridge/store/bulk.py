"""Bulk INSERT at the driver: one ``executemany`` whose rows are converted here.

``session.execute(insert(table), rows)`` builds a parameter dictionary per row through
the compiler (``construct_params``) and then runs each column type's bind processor on
it; for an import's ledger, bindings and outbox rows that bookkeeping cost more than
SQLite's own work. ``bulk_insert`` compiles the statement once per table and column set,
runs the very same bind processors (so a value is stored exactly as SQLAlchemy's insert
stores it: UTC datetimes, JSON) and hands the driver plain tuples (dictionaries where the
driver's parameters are named, as psycopg's are).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

__all__ = ["bulk_insert"]


@dataclass(frozen=True)
class _Plan:
    sql: str
    columns: tuple[str, ...]  # column keys, in the statement's parameter order
    names: tuple[str, ...]  # the driver's parameter names (escaped where a key needs it)
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[tuple[bool, Any] | None, ...]  # (callable?, the default) of a column that has one
    required: tuple[str, ...]  # columns whose default is SQL: every row must give them
    positional: bool


#: How a caller's own INSERT is made for a dialect (its name): an upsert's ON CONFLICT clause.
Statement = Callable[[str], Insert]


@lru_cache(maxsize=256)
def _plan(table: Table, dialect: Dialect, given: frozenset[str], statement: Statement | None = None) -> _Plan:
    unknown = given - set(table.columns.keys())
    if unknown:
        msg = f"{table.name} has no column {', '.join(sorted(unknown))}"
        raise KeyError(msg)
    required = tuple(c.key for c in table.columns if c.default is not None and not _python_default(c.default))
    # Every column a row gives, and every column with a Python-side default (as the ORM fills it).
    keys = [c.key for c in table.columns if c.key in given or c.default is not None]
    # inline(): no RETURNING of the primary key, which an executemany would only throw away
    made = insert(table) if statement is None else statement(dialect.name)
    compiled = made.inline().compile(dialect=dialect, column_keys=keys)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else tuple(keys)
    escaped: dict[str, str] = dict(compiled.escaped_bind_names or {})
    processors: list[Callable[[Any], Any] | None] = []
    defaults: list[tuple[bool, Any] | None] = []
    for key in order:
        column = table.columns[key]
        processors.append(column.type.dialect_impl(dialect).bind_processor(dialect))
        default = column.default
        # SQLAlchemy wraps a zero-argument callable default so that it takes the execution context.
        defaults.append((default.is_callable, default.arg) if _python_default(default) else None)  # type: ignore[union-attr]
    return _Plan(compiled.string, order, tuple(escaped.get(k, k) for k in order), tuple(processors), tuple(defaults),
                 required, bool(compiled.positional))


def _python_default(default: object) -> bool:
    return isinstance(default, (ScalarElementColumnDefault, CallableColumnDefault))


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                by_column: Mapping[str, Sequence[Any]] | None = None, statement: Statement | None = None) -> None:
    """Insert `rows` (column key → value) into `table` in one driver ``executemany``, inside
    the session's transaction. A value given, ``None`` included, is stored as given. A
    column a row leaves out takes its Python default, or else SQL NULL. A callable default
    (``utcnow``, ``dict``) is evaluated once per call: one statement, one time; a default
    that must differ row by row (a fresh UUID) has to be given in each row instead.

    `by_column`: more columns, each a sequence of one value per row, in the rows' order (a
    page's new ids), so that the rows need not be copied to take them.

    `statement`: the INSERT to run instead of the plain one, made from the dialect's name
    (an upsert: ``sqlite.insert(table).on_conflict_do_update(...)``); a module-level
    function, as the compiled statement is kept per function.

    Raises:
        KeyError: a row names a column the table lacks.
        TypeError: a row leaves out a column whose default is SQL (only SQLAlchemy's own
            insert renders those).
        ValueError: a `by_column` sequence is not as long as `rows`.
    """
    if not rows:
        return
    extra = dict(by_column or {})
    if any(len(values) != len(rows) for values in extra.values()):
        msg = f"{table.name}: bulk_insert got {len(rows)} rows but a column of another length"
        raise ValueError(msg)
    connection = session.connection()
    given = frozenset().union(*rows, extra)
    plan = _plan(table, connection.dialect, given, statement)
    for key in plan.required:
        if key not in extra and any(key not in row for row in rows):
            msg = f"{table.name}.{key}: a SQL-side default cannot be filled by bulk_insert; give the value"
            raise TypeError(msg)
    # Converted a column at a time (one ``map`` of its processor over the column), then
    # zipped into rows: a row at a time cost a Python test per value.
    whole = all(len(row) == len(given) - len(extra) for row in rows)  # every row gives every column any row gives
    columns: list[list[Any]] = []
    for key, process, default in zip(plan.columns, plan.processors, plan.defaults, strict=True):
        if key in extra or (whole and key in given):
            values = list(extra[key]) if key in extra else [row[key] for row in rows]
            columns.append(values if process is None else _converted(values, process))
            continue
        # A missing value takes the column's default, converted once for the whole statement;
        # a column without one is NULL (not, say, the JSON text 'null' its processor would make).
        fill = None
        if default is not None:
            fill = default[1](None) if default[0] else default[1]
            fill = fill if process is None else process(fill)
        columns.append([fill if key not in row else row[key] if process is None else process(row[key]) for row in rows])
    params: list[Any] = list(zip(*columns, strict=True))
    if not plan.positional:
        params = [dict(zip(plan.names, values, strict=True)) for values in params]
    connection.exec_driver_sql(plan.sql, params)


def _converted(values: list[Any], process: Callable[[Any], Any]) -> list[Any]:
    """`values` through a column's bind processor; one object in every row (the instant a
    page's rows are stamped with, its backend's name) is converted once."""
    first = values[0]
    if first is values[-1] and all(v is first for v in values):
        return [process(first)] * len(values)
    return list(map(process, values))
