"""What the importer's transaction for one page works with (``sync.importer``): the
session and unit of work, the page's new records waiting for their one INSERT, the rows
and bindings it read, and what it tells the pass once it committed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from crm_bridge.events import Unit
from sync.binder import Binder
from sync.outcome import ImportStats
from sync.source import RemoteRecord

__all__ = ["NewRecord", "PageWork"]


@dataclass
class NewRecord:
    """A new record's validated values, inserted with the page's others and then bound."""

    model: str
    values: dict[str, Any]
    rec: RemoteRecord
    digest: str
    base: dict[str, Any]
    changed: list[str]
    send: dict[str, Any]  # fields crm-bridge owns that 1C holds otherwise (the merge's send)


@dataclass
class PageWork:
    """What one page's transaction works with."""

    session: Session
    unit: Unit
    binder: Binder
    stats: ImportStats
    creates: list[NewRecord] = field(default_factory=list)
    # The page's bound records, loaded in one query and held until the commit (the
    # session's identity map keeps rows only weakly): the merge reads each of them.
    rows: list[Any] = field(default_factory=list)
    # Bindings made by the page, for ``Importer.known`` once it committed.
    on_commit: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    # Records of the page read, converted and taken whole: out of the quarantine, if in it.
    passed: list[tuple[str, str]] = field(default_factory=list)
