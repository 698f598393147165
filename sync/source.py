"""What the sync engine needs from an adapter: read pages of records, write fields back.

Adapters implement ``RemoteBackend``; the engine never sees HTTP, OData or SOAP. Example::

    class MyCrm:
        name = "mycrm"
        mappings_dir = Path("mappings/mycrm")
        def read(self, spec, *, after=None):   # -> Iterator[list[RemoteRecord]]
            for page in api.pages(spec.entity, fields=spec.remote_fields(), after=after):
                yield [RemoteRecord(r["id"], r["etag"], r["deleted"], r) for r in page]
        def update(self, spec, remote_id, values):
            return api.patch(spec.entity, remote_id, values)["etag"]
        def close(self): api.close()
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mapping.spec import MappingSpec

__all__ = ["RemoteBackend", "RemoteRecord"]


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """One remote record with values already in Python types (aware datetimes, None for empty)."""

    id: str
    version: str | None
    deleted: bool
    values: dict[str, Any]


class RemoteBackend(Protocol):
    name: str

    @property
    def mappings_dir(self) -> Path:
        """Folder of ``<model>.yaml`` mapping files used for this backend."""
        ...

    def read(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[list[RemoteRecord]]:
        """Every record of the mapped entity after the key `after`, in pages (bounded memory)."""
        ...

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any]) -> str | None:
        """Write `values` (remote field names) to one record; return the new remote version."""
        ...

    def close(self) -> None: ...
