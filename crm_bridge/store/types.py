"""Column types that keep the time-zone promise on every database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_UTC_OFFSET = len("+00:00")

__all__ = ["UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC, returned aware (UTC) on SQLite and PostgreSQL.

    SQLite keeps no offset, so values are normalised to UTC before they are written and
    tagged UTC when read. A naive value is refused: a silent local-time guess is how due
    dates drift.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} cannot be stored; attach a time zone"
            raise ValueError(msg)
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, one step to the text SQLite stores (``YYYY-MM-DD HH:MM:SS.ffffff``, as
        SQLAlchemy's own SQLite DATETIME writes it): the generic two-step path (this
        decorator, then the dialect's ``%``-format of seven fields) cost a bulk import more
        than the INSERTs themselves."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:  # values read from the store, and most computed from them, are UTC already
                if value.tzinfo is None or value.utcoffset() is None:
                    msg = f"naive datetime {value.isoformat()} cannot be stored; attach a time zone"
                    raise ValueError(msg)
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:-_UTC_OFFSET]

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
