"""The REST addon's table: webhook pings waiting to be read again (``pings.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base

__all__ = ["PingRow"]


class PingRow(Base):
    """A record a CRM said changed, not read again yet."""

    __tablename__ = "rest_pings"
    __table_args__ = (UniqueConstraint("backend", "resource", "key", name="uq_rest_pings_record"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    resource: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)
