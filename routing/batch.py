"""The tick's bulk writes: a chunk's routing log rows and its new assignees, one statement
per table and chunk.

Why not SQLAlchemy's executemany: psycopg sends it as a statement per row; a multi-row
``VALUES`` is compiled anew for every size and costs more to build than to run. On
PostgreSQL each column goes as one array parameter and ``unnest`` turns them back into
rows, so the SQL text is the same at every call (prepared once, no compilation); SQLite's
executemany is in-process and already cheap (``crm_bridge.store.bulk.bulk_insert``). The
values pass the columns' own bind processors, so they are stored exactly as the ORM
stores them (UTC instants, JSON).

    insert_rows(session, core_table(RoutingLogRow), [{"ticket_id": 7, "at": now, ...}])
    update_by_id(session, core_table(TicketRow), [{"id": 7, "assignee_id": 3, "team_id": None}])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from crm_bridge.store.bulk import bulk_insert

__all__ = ["insert_rows", "update_by_id"]


def _arrays(session: Session, table: Table, rows: Sequence[dict[str, Any]], names: Sequence[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """(``unnest`` arguments, one array parameter per column) for PostgreSQL."""
    dialect = session.get_bind().dialect
    args: list[str] = []
    params: dict[str, list[Any]] = {}
    for name in names:
        column = table.c[name]
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[name] for row in rows]
        params[name] = [None if v is None else process(v) for v in values] if process is not None else values
        args.append(f"%({name})b::{column.type.compile(dialect)}[]")  # b: binary format
    return args, params


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (every row the same keys) in one statement (PostgreSQL) or one
    executemany (SQLite), inside the session's transaction."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        bulk_insert(session, table, rows)
        return
    names = list(rows[0])
    args, params = _arrays(session, table, rows, names)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({', '.join(args)})"
    _execute_binary(session, sql, params)


def update_by_id(session: Session, table: Table, rows: Sequence[dict[str, Any]], **same: Any) -> None:
    """Set each row's columns on the record whose ``id`` it gives (every row the same
    keys), and `same` (column: value) on all of them: one statement on PostgreSQL, one
    executemany on SQLite."""
    if not rows:
        return
    names = [n for n in rows[0] if n != "id"]
    if session.get_bind().dialect.name != "postgresql":
        statement = update(table).where(table.c.id == bindparam("_id")).values(
            {**{n: bindparam(f"_{n}") for n in names}, **same})
        session.execute(statement, [{f"_{k}": v for k, v in row.items()} for row in rows])
        return
    args, params = _arrays(session, table, rows, ["id", *names])
    dialect = session.get_bind().dialect
    for name, value in same.items():
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        params[f"same_{name}"] = process(value) if process is not None else value
    sets = [f"{n} = given.{n}" for n in names] + [f"{n} = %(same_{n})b" for n in same]
    sql = (f"UPDATE {table.name} SET {', '.join(sets)} FROM unnest({', '.join(args)}) "
           f"AS given(id, {', '.join(names)}) WHERE {table.name}.id = given.id")
    _execute_binary(session, sql, params)


def _execute_binary(session: Session, sql: str, params: dict[str, Any]) -> None:
    """Run `sql` (its parameters ``%(name)b``: PostgreSQL's binary format) on the session's
    connection: in the text format psycopg escapes every element of an array, which for
    JSON texts cost more than the whole insert."""
    session.connection().exec_driver_sql(sql, params)
