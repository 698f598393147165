"""Key-range partitions: a model's key space read as slices, each its own stream.

An adapter offering ``key_ranges`` (``KeyRanges``) cuts the slices at keys it found in
the remote's own order; ``slice_bounds`` asks once per model and slice count and
keeps the answer, so every worker reads the same slices. What is here decides nothing
about an order of keys: only the remote compares them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from sqlalchemy.exc import DBAPIError

from crm_bridge.store.engine import Store
from mapping.spec import MappingSpec
from sync.checkpoint import load_checkpoint, save_checkpoint
from sync.outcome import lost_race
from sync.source import RemoteRecord, RemoteStub

__all__ = ["CUT", "KeyRanges", "Partition", "slice_bounds", "supports_key_ranges", "usable_bounds"]


class KeyRanges(Protocol):
    """An adapter whose key space can be cut into slices read independently.

    Bounds are keys the remote returned in its own order (1C's order of references is
    not the text's, and differs between bases), each slice ``[start, before)`` compared
    by the remote itself, so they depend on the data: the importer asks once per model
    and slice count and keeps the answer (see ``slice_bounds``). Example (1C:
    ``Ref_Key ge guid'…' and Ref_Key lt guid'…'``)::

        def key_ranges(self, spec, count):  # -> [(start, before), ...], None = open end
            return [(None, "…-9c4e-0022642fda98"), ("…-9c4e-0022642fda98", None)] if count == 2 else [(None, None)]
        def scan(self, spec, *, after=None, start=None, before=None): ...
        def read(self, spec, *, after=None, start=None, before=None): ...
    """

    def key_ranges(self, spec: MappingSpec, count: int) -> list[tuple[str | None, str | None]]: ...

    def scan(self, spec: MappingSpec, *, after: str | None = None, start: str | None = None,
             before: str | None = None) -> Iterator[list[RemoteStub]]: ...

    def read(self, spec: MappingSpec, *, after: str | None = None, start: str | None = None,
             before: str | None = None) -> Iterator[list[RemoteRecord]]: ...


def supports_key_ranges(backend: object) -> TypeGuard[KeyRanges]:
    """True when the backend can read slices of its key space (``KeyRanges``)."""
    return hasattr(backend, "key_ranges")


@dataclass(frozen=True, slots=True)
class Partition:
    """Slice `index` of `count` of a model's key space: its own stream and checkpoint."""

    index: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, name: str, backend: object) -> Partition:
        """``"3/8"`` → slice 3 of 8 of `backend`'s key space (see ``KeyRanges``)."""
        try:
            index, count = (int(part) for part in name.split("/"))
        except ValueError:
            msg = f"partition {name!r}: expected '<index>/<count>', e.g. '3/8'"
            raise ValueError(msg) from None
        if not 0 <= index < count:
            msg = f"partition {name!r}: index must be 0..{count - 1}"
            raise ValueError(msg)
        if count > 256:
            msg = f"partition {name!r}: at most 256 slices"
            raise ValueError(msg)
        if count > 1 and not supports_key_ranges(backend):
            msg = f"partition {name!r}: backend {getattr(backend, 'name', backend)!r} cannot read key ranges"
            raise ValueError(msg)
        return cls(index, count)


def _distinct_cuts(bounds: list[list[str | None]]) -> bool:
    """Every slice between two distinct keys: the set held at least as many records as slices."""
    inner = [before for _, before in bounds[:-1]]
    return len(set(inner)) == len(inner)


# How kept bounds were cut. 2: each cut a key the remote returned after the one before, in
# its own order. Bounds kept without it were sorted by an order assumed for 1C, which a base
# comparing its keys otherwise does not share (slices overlapped, records were read twice):
# they are cut again once.
CUT = 2


def usable_bounds(kept: dict[str, Any]) -> bool:
    """Kept bounds (the checkpoint ``<model>:<entity>#cut/<n>``) that hold: cut this way,
    between distinct keys."""
    return kept.get("cut") == CUT and "bounds" in kept and _distinct_cuts(kept["bounds"])


def slice_bounds(store: Store, backend: object, spec: MappingSpec, partition: Partition) -> tuple[str | None, str | None]:
    """The ``(start, before)`` keys of `partition` of `spec`'s model. The backend is asked once
    per model and slice count; the answer is kept as a checkpoint, so every worker and
    every later pass cuts the same slices (a resumed slice's cursor stays inside its
    own). Keys created since fall in a slice all the same: the ends are open. Bounds
    cut while the set held fewer records than slices (some slices empty for good), or
    kept from the earlier cut by an assumed order (``CUT``), are asked again at the
    next pass: a slice's cursor left outside its new bounds only delays its records
    by one pass (the adapter keeps a slice's start beside its cursor).

    Raises:
        TypeError: the backend cannot read key ranges.
    """
    name = str(getattr(backend, "name", backend))
    if not supports_key_ranges(backend):
        msg = f"{name}: partition {partition.name} asked of a backend that cannot read key ranges"
        raise TypeError(msg)
    stream = f"{spec.model}:{spec.entity}#cut/{partition.count}"  # no longer than a slice's own stream name
    with store.transaction() as session:
        kept = load_checkpoint(session, name, stream)
    if not usable_bounds(kept):
        computed = [list(pair) for pair in backend.key_ranges(spec, partition.count)]  # 1C asked outside a transaction
        try:
            with store.transaction() as session:
                kept = load_checkpoint(session, name, stream)  # another worker may have been first
                if not usable_bounds(kept):
                    kept = {"bounds": computed, "cut": CUT}
                    save_checkpoint(session, name, stream, kept)
        except DBAPIError as exc:
            if not lost_race(exc):
                raise
            with store.transaction() as session:  # the other worker's bounds won: take them
                kept = load_checkpoint(session, name, stream)
    start, before = kept["bounds"][partition.index]
    return start, before
