"""The store: one SQLAlchemy engine and session factory per process.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so the web part and
the scheduler can read while a sync pass writes; PostgreSQL is used by URL for scale-out.

New rows get their integer ids on SQLite before a flush (``_number_new_rows``): SQLite has
no INSERT form that returns new rowids in the order of the rows, so SQLAlchemy would
insert rows one statement at a time to learn their ids; with the ids known, a flush of
1,000 new rows is one ``executemany``. PostgreSQL returns ordered ids in batches itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError, to_json
from sqlalchemy import Connection, Dialect, Engine, Integer, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Store", "highest_id", "new_id", "open_store"]

log = logging.getLogger(__name__)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json_text(value: Any) -> str:
    """A JSON column's text: compact, Cyrillic as it is (a third of the bytes of \\u escapes).

    pydantic-core writes it three times as fast as ``json`` (an import writes a binding's
    merge base, a history row and an outbox row per record); the text differs only in how
    an exponent is spelt (``1e-7`` for ``1e-07``), which reads back as the same number.
    Unlike ``json`` it also writes a datetime or a Decimal (as ISO text, as a string)
    instead of raising. Writers convert their values to JSON's types first
    (``fields_to_json``), except an import's merge base of a new record, which keeps its
    validated datetimes (``store.records.new_record_values``): pydantic-core writes them
    as the very text ``fields_to_json`` makes of them. Text UTF-8 cannot encode (a lone
    surrogate) goes through ``json``, which fails as before at the driver.
    """
    try:
        return to_json(value).decode()
    except PydanticSerializationError:
        return _JSON.encode(value)


def _sqlite_pragmas(busy_timeout: float) -> Any:
    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite opens transactions itself and breaks SAVEPOINT; take control of BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return pragmas


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE: take the write lock up front, so two writers queue on busy_timeout
    # instead of failing when a read lock cannot be upgraded.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _number_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    """Give the new rows of tables with an integer key their ids: one ``max(id)`` per table.

    Safe because every SQLite transaction here holds the database's write lock from its
    first statement (``BEGIN IMMEDIATE``): no other writer can take the same numbers. The
    numbers are what SQLite would choose itself (max + 1; the tables are not AUTOINCREMENT).
    """
    pending: dict[Any, list[Any]] = {}
    given: dict[Any, int] = {}  # the highest id already set on a new row (``new_id``), per key column
    for obj in session.new:
        column = _integer_key(obj)
        if column is None:
            continue
        if getattr(obj, "id", None) is None:
            pending.setdefault(column, []).append(obj)
        else:
            given[column] = max(given.get(column, 0), int(obj.id))
    if not pending:
        return
    connection = session.connection()  # one look-up a flush: the session's transaction is checked each call
    for column, objs in pending.items():
        top = max(highest_id(connection, column), given.get(column, 0))
        for number, obj in enumerate(objs, start=top + 1):
            obj.id = number


def _integer_key(obj: Any) -> Any:
    """The key column of `obj`'s table when it is one integer column mapped as ``id``, else None."""
    mapper = inspect(obj).mapper
    keys = mapper.primary_key
    if len(keys) == 1 and isinstance(keys[0].type, Integer) and mapper.get_property_by_column(keys[0]).key == "id":
        return keys[0]
    return None


def new_id(session: Session, obj: Any) -> int:
    """The id of `obj`, a row added to `session` and not flushed yet (its table's key an
    integer ``id``).

    On SQLite it is numbered at once, as the flush would number it (the highest id stored or
    given to another new row of its table, plus one; see ``_number_new_rows``), so the rows
    that need the number can be added without a flush of their own: the flush that writes
    them all is one ``executemany`` per table instead of one flush for this row and another
    for the rest (``intake.process`` registered a request with two flushes a message).
    Elsewhere the database gives the number: the session is flushed.
    """
    if session.get_bind().dialect.name != "sqlite" or _integer_key(obj) is None:
        session.flush()
        return int(obj.id)
    if getattr(obj, "id", None) is None:
        column = _integer_key(obj)
        siblings = [int(o.id) for o in session.new if o is not obj and _integer_key(o) is column and o.id is not None]
        obj.id = max([highest_id(session.connection(), column), *siblings]) + 1
    return int(obj.id)


def highest_id(connection: Connection, column: Any) -> int:
    """``max(column)`` of a SQLite table in `connection`'s transaction, 0 when it is empty.

    Asked of the driver's connection itself (the same connection, so the same transaction
    and the same answer): through SQLAlchemy each ``select(func.max(...))`` cost some 0.5 ms
    of statement caching and result building — every flush asks it for each table it adds
    rows to, ``intake.process`` flushes once a message — and SQLite answers it from the
    rowid b-tree's last page in microseconds.
    """
    driver = connection.connection.driver_connection
    found = driver.execute(_max_sql(column, connection.dialect)).fetchone()  # type: ignore[union-attr]
    return int(found[0] or 0)


@lru_cache(maxsize=512)
def _max_sql(column: Any, dialect: Dialect) -> str:
    """``SELECT max("id") FROM "table"``, quoted by the dialect, made once per column."""
    quote = dialect.identifier_preparer
    return f"SELECT max({quote.quote(column.name)}) FROM {quote.format_table(column.table)}"


@dataclass
class Store:
    """Engine plus session factory. ``with store.transaction() as s:`` commits or rolls back."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, echo: bool = False, busy_timeout: float = 30.0) -> Store:
    """Open the store at a SQLAlchemy `url` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    `busy_timeout` (seconds, SQLite): how long a writer waits for the write lock.

    A SQLite file's folder is created when missing. The schema is not touched: run
    ``crm-bridge db upgrade`` (or ``migrate.upgrade``).
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_text}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout}
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_driver_name() == "psycopg":
            # Plan every statement with its values. psycopg prepares a statement on the
            # server from its fifth run, and PostgreSQL then settles on a generic plan: for
            # a binding look-up of 500 keys on a table filled since its last ANALYZE (the
            # first passes after an import) that plan read every binding of the model per
            # look-up — 250 ms instead of 5-20 ms, an incremental pass 12 s instead of 1.
            # Statements stay prepared (parsed once); options given in the URL are kept.
            given = parsed.query.get("options") or ()
            options = [given] if isinstance(given, str) else list(given)
            kwargs["connect_args"] = {"options": " ".join([*options, "-c plan_cache_mode=force_custom_plan"])}
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
        event.listen(engine, "begin", _sqlite_begin)
    sessions = sessionmaker(engine, expire_on_commit=False)
    if parsed.get_backend_name() == "sqlite":
        event.listen(sessions, "before_flush", _number_new_rows)
    return Store(engine, sessions)
