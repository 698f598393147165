"""What the sync engine needs from an adapter: read pages of records, write fields back.

Adapters implement ``RemoteBackend``; the engine never sees HTTP, OData or SOAP. Example::

    class MyCrm:
        name = "mycrm"
        mappings_dir = Path("mappings/mycrm")
        def read(self, spec, *, after=None):   # -> Iterator[list[RemoteRecord]]
            for page in api.pages(spec.entity, fields=spec.remote_fields(), after=after):
                yield [RemoteRecord(r["id"], r["etag"], r["deleted"], r) for r in page]
        def update(self, spec, remote_id, values, *, expected_version=None):
            return api.patch(spec.entity, remote_id, values, if_match=expected_version)["etag"]
        def close(self): api.close()
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeGuard

from mapping.spec import MappingSpec

__all__ = [
    "ChangeFeed",
    "CursorSource",
    "FeedPackage",
    "RemoteBackend",
    "RemoteCreating",
    "RemoteRecord",
    "RemoteStub",
    "cursor_covers",
    "VersionScanning",
    "supports_change_feed",
    "supports_create",
    "supports_cursor",
    "supports_version_scan",
]


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """One remote record with values already in Python types (aware datetimes, None for empty).

    ``invalid``: why the adapter could not read it (a value that is not of the type the
    CRM declares for its field), ``values`` then as they came. The importer refuses such
    a record — counted as failed, its change-feed package not acknowledged — and never
    stores a guess; it is read again once it changes in the CRM.
    """

    id: str
    version: str | None
    deleted: bool
    values: dict[str, Any]
    invalid: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteStub:
    """Key, version and deletion flag of a record: what a version scan reads."""

    id: str
    version: str | None
    deleted: bool


class RemoteBackend(Protocol):
    name: str

    @property
    def mappings_dir(self) -> Path:
        """Folder of ``<model>.yaml`` mapping files used for this backend."""
        ...

    def read(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[list[RemoteRecord]]:
        """Every record of the mapped entity after the key `after`, in pages (bounded memory)."""
        ...

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
               expected_version: str | None = None) -> str | None:
        """Write `values` (remote field names) to one record; return the new remote version.

        `expected_version`: the version the decision was taken against. A backend whose
        remote can refuse a write to a newer version (a 1C web service's
        ``ExpectedDataVersion``) sends it and raises a retryable conflict; one whose remote
        cannot (1C OData ignores ``If-Match``) relies on the exporter's re-read before writes."""
        ...

    def close(self) -> None: ...


class VersionScanning(Protocol):
    """An adapter that can list versions cheaply and read chosen records in full.

    Example (1C: ``$select=Ref_Key,DataVersion,DeletionMark``, then batched key reads)::

        def scan(self, spec, *, after=None):
            for page in odata.pages(spec.entity, select=[spec.key, spec.version, spec.deleted], after=after):
                yield [RemoteStub(r["Ref_Key"], r["DataVersion"], r["DeletionMark"]) for r in page]
        def fetch(self, spec, ids):
            return [to_record(r) for r in odata.by_keys(spec.entity, ids)]
    """

    def scan(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[list[RemoteStub]]: ...

    def fetch(self, spec: MappingSpec, ids: Sequence[str]) -> list[RemoteRecord]: ...


def supports_version_scan(backend: object) -> TypeGuard[VersionScanning]:
    """True when the backend offers version scans and its configuration chose them."""
    return bool(getattr(backend, "version_scan", False)) and hasattr(backend, "scan") and hasattr(backend, "fetch")


class RemoteCreating(Protocol):
    """An adapter that can create records and find one by a field's value (for bind-first creates).

    Example::

        def find(self, spec, field, value):        # -> (remote id, version) | None
            rows = api.search(spec.entity, {field: value})
            return (rows[0]["id"], rows[0]["etag"]) if rows else None
        def create(self, spec, values):            # -> (remote id, version)
            row = api.create(spec.entity, values)
            return row["id"], row["etag"]

    Optionally ``complete_create(spec, remote_id, expected_version) -> version | None``: for a record created
    here that an import met (and bound) before the create's answer came back, finish what
    creating includes beyond the record itself (1C: posting the document).
    """

    def find(self, spec: MappingSpec, field: str, value: str) -> tuple[str, str | None] | None: ...

    def create(self, spec: MappingSpec, values: dict[str, Any]) -> tuple[str, str | None]: ...


def supports_create(backend: object) -> TypeGuard[RemoteCreating]:
    return hasattr(backend, "find") and hasattr(backend, "create")


class CursorSource(Protocol):
    """An adapter that lists records changed in ``[since, until)`` by their modification time.

    Example (a REST CRM with ``updated_at``)::

        cursor_overlap = timedelta(minutes=5)
        cursor_lag = timedelta(seconds=30)
        def changed(self, spec, since, until):
            for page in api.pages(spec.entity, updated_gte=since, updated_lt=until, order="updated_at,id"):
                yield [to_record(r) for r in page]
    """

    cursor_overlap: timedelta
    cursor_lag: timedelta

    def changed(self, spec: MappingSpec, since: datetime, until: datetime) -> Iterator[list[RemoteRecord]]: ...


def supports_cursor(backend: object) -> TypeGuard[CursorSource]:
    return hasattr(backend, "changed") and hasattr(backend, "cursor_overlap") and hasattr(backend, "cursor_lag")


def cursor_covers(backend: CursorSource, spec: MappingSpec) -> bool:
    """Whether the cursor source reads `spec`'s entity by modification time. A backend
    whose entities differ (a REST CRM whose users have no modified-at) says so per entity
    with ``cursor_covers(spec)``; the others are read by their version scan or in full."""
    covers = getattr(backend, "cursor_covers", None)
    return bool(covers(spec)) if callable(covers) else True


@dataclass
class FeedPackage:
    """One numbered package of a change feed, its records grouped by model.

    ``problems`` holds what could not be turned into records — an entry that did not
    parse, an object type no mapping covers — as ``(reason, raw entry)``; a package
    with problems is never acknowledged, so nothing in it is lost.
    """

    number: int
    records: dict[str, list[RemoteRecord]] = field(default_factory=dict)  # model -> changed records
    gone: dict[str, list[str]] = field(default_factory=dict)  # model -> ids deleted outright (only the key came)
    problems: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0  # entries of types the configuration lets go on purpose

    @property
    def empty(self) -> bool:
        return not self.problems and not self.ignored and not any(self.records.values()) and not any(self.gone.values())

    @property
    def size(self) -> int:
        return sum(map(len, self.records.values())) + sum(map(len, self.gone.values())) + len(self.problems) + self.ignored


class ChangeFeed(Protocol):
    """An adapter whose CRM hands out its changes as numbered packages until acknowledged
    (1C: the node of an exchange plan; INTERFACE.md §7a).

    Reading package ``n`` again before it is acknowledged returns it again (with any
    change registered meanwhile), so a pass that stores and then dies before
    ``feed_acknowledge`` simply reads it once more. ``sync.feed`` drives it.

    Example::

        change_feed = True
        feed_name = "CRMBridge/CRMB"                     # names the checkpoint stream
        def feed_position(self):                         # last acknowledged number
            return api.node()["ReceivedNo"]
        def feed_package(self, specs, number):
            package = FeedPackage(number)
            for entry in api.select_changes(number):
                model = models_by_entity[entry.type]     # else: package.problems.append(...)
                package.records.setdefault(model, []).append(to_record(specs[model], entry))
            return package
        def feed_acknowledge(self, number):
            api.notify_changes_received(number)
    """

    feed_name: str

    def feed_position(self) -> int: ...

    def feed_package(self, specs: Mapping[str, MappingSpec], number: int) -> FeedPackage: ...

    def feed_acknowledge(self, number: int) -> None: ...


def supports_change_feed(backend: object) -> TypeGuard[ChangeFeed]:
    """True when the backend offers a change feed and its configuration chose it."""
    return bool(getattr(backend, "change_feed", False)) and all(
        hasattr(backend, name) for name in ("feed_name", "feed_position", "feed_package", "feed_acknowledge"))
