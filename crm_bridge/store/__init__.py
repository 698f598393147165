"""The store: SQLAlchemy models, engine and Alembic migrations."""

from __future__ import annotations

from crm_bridge.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
