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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

__all__ = ["bulk_insert"]


@dataclass(frozen=True)
class _Plan:
    sql: str
    columns: tuple[str, ...]  # in the statement's parameter order
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[tuple[bool, Any] | None, ...]  # (callable?, the default) of a column that has one
    positional: bool


@lru_cache(maxsize=256)
def _plan(table: Table, dialect: Dialect, given: frozenset[str]) -> _Plan:
    unknown = given - set(table.columns.keys())
    if unknown:
        msg = f"{table.name} has no column {', '.join(sorted(unknown))}"
        raise KeyError(msg)
    # Every column a row gives, and every column with a Python-side default (as the ORM fills it).
    names = [c.key for c in table.columns if c.key in given or c.default is not None]
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else tuple(names)
    processors: list[Callable[[Any], Any] | None] = []
    defaults: list[tuple[bool, Any] | None] = []
    for name in order:
        column = table.columns[name]
        processors.append(column.type.dialect_impl(dialect).bind_processor(dialect))
        default = column.default
        if default is None:
            defaults.append(None)
        elif isinstance(default, (ScalarElementColumnDefault, CallableColumnDefault)):
            # SQLAlchemy wraps a zero-argument callable default so that it takes the execution context.
            defaults.append((default.is_callable, default.arg))
        else:
            msg = f"{table.name}.{name}: a SQL-side default cannot be filled by bulk_insert; give the value"
            raise TypeError(msg)
    return _Plan(compiled.string, order, tuple(processors), tuple(defaults), bool(compiled.positional))


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (column key → value) into `table` in one driver ``executemany``, inside
    the session's transaction. A column a row leaves out takes its Python default (a
    callable one such as ``utcnow`` is evaluated once per call: one statement, one time)
    or NULL; a value given, ``None`` included, is stored as given.
    """
    if not rows:
        return
    connection = session.connection()
    plan = _plan(table, connection.dialect, frozenset().union(*rows))
    # A missing value takes the column's default, converted once for the whole statement.
    filled = [None if d is None else d[1](None) if d[0] else d[1] for d in plan.defaults]
    steps = [(name, process, filled[i] if process is None else process(filled[i]))
             for i, (name, process) in enumerate(zip(plan.columns, plan.processors, strict=True))]
    params: list[Any] = []
    for row in rows:
        values = [default if name not in row else row[name] if process is None else process(row[name])
                  for name, process, default in steps]
        params.append(tuple(values) if plan.positional else dict(zip(plan.columns, values, strict=True)))
    connection.exec_driver_sql(plan.sql, params)
