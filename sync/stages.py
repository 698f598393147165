"""The stages at which a record can be quarantined, by name.

Apart from :mod:`sync.quarantine` (SQLAlchemy, the store) so that ``crm-bridge
quarantine list --help`` can name them without loading the store.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["IMPORT_STAGES", "STAGES", "Stage"]

Stage = Literal["read", "convert", "store", "reference", "write"]
STAGES: tuple[Stage, ...] = ("read", "convert", "store", "reference", "write")
IMPORT_STAGES: tuple[Stage, ...] = ("read", "convert", "store", "reference")  # the write-back's own is "write"
