"""What ``mapping`` needs from a backend for ``check``, ``suggest`` and ``preview``.

Mapping never imports sync or adapters: a backend qualifies by shape. Example::

    class MyCrm:
        name = "mycrm"
        def describe(self):                      # -> {entity: {field: Edm type}}
            return {"customers": {"id": "Edm.String", "inn": "Edm.String"}}
        def read(self, spec, *, after=None):     # -> pages of records with .id and .values
            yield [Record(r["id"], r) for r in api.list(spec.entity, limit=100)]

A backend without metadata leaves ``describe`` out; ``check`` and ``suggest`` then work
from a sample of records read with ``read``. One that guesses its ``describe`` from a
first page of records (the ``rest`` backend without an OpenAPI document) says so with
``describes_by_sample = True``: ``suggest`` uses it, ``check`` checks each mapping against
its own sample instead (an empty listing proves no field missing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from mapping.spec import MappingSpec

__all__ = ["RecordLike", "RecordSource", "RemoteSchema"]


class RecordLike(Protocol):
    """One remote record: its key and its values, already Python types."""

    @property
    def id(self) -> str: ...

    @property
    def values(self) -> Mapping[str, Any]: ...


@runtime_checkable
class RecordSource(Protocol):
    """Reads pages of records of a mapped entity (read only: preview writes nothing)."""

    name: str

    def read(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[Sequence[RecordLike]]: ...


@runtime_checkable
class RemoteSchema(RecordSource, Protocol):
    """A record source that also publishes its schema (1C ``$metadata``)."""

    def describe(self) -> dict[str, dict[str, str]]:
        """Entity set → {field: Edm type}; tabular row types under their row type name."""
        ...
