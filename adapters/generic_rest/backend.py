"""The ``rest`` backend: the sync engine's reads and writes, done as a connector file says.

* **Changes.** A resource with a modified-at cursor is read in windows (``changed``: the
  records modified since the window's start; the window's end is applied here, as few APIs
  take an upper bound). One without is version-scanned: the listing gives key and version,
  records whose version moved are read whole (``fetch``: the detail path, or the listing
  filtered by key). ``cursor_covers`` tells the sync engine which is which.
* **Writes are verified.** An update or create is done only when the record read back
  holds what was sent (``RemoteStoredOtherwise`` otherwise, with the fields), and its
  version is the one returned. A PUT that replaces the record sends the record as read,
  with our fields changed, so fields we do not map are not wiped.
* **Creates bind first.** ``find`` looks a record up by the correlation field (the
  resource's ``search`` parameter), so a create whose answer was lost is found again, not
  made twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from adapters.generic_rest.auth import FileTokens, MemoryTokens
from adapters.generic_rest.batch import command, error_text, run_batch
from adapters.generic_rest.client import RestClient
from adapters.generic_rest.config import RestConfig
from adapters.generic_rest.connector import ModifiedCursor, Resource, WriteOp
from adapters.generic_rest.describe import openapi_types, sample_types
from adapters.generic_rest.flatten import flatten, unflatten
from adapters.generic_rest.select import MISSING, parse_path, select
from crm_bridge.errors import (
    ConfigError,
    RemoteRejected,
    RemoteStoredOtherwise,
    RemoteUnavailable,
    did_you_mean,
)
from crm_bridge.http import shown
from mapping.spec import MappingSpec
from sync.source import RemoteRecord, RemoteStub

__all__ = ["RestBackend", "format_instant", "parse_instant"]


def format_instant(at: datetime, cursor: ModifiedCursor, zone: ZoneInfo) -> str | int:
    """`at` as the CRM's filter parameter wants it."""
    if cursor.format == "unix":
        return int(at.timestamp())
    if cursor.format == "unix_ms":
        return int(at.timestamp() * 1000)
    local = at.astimezone(zone)
    return local.isoformat() if cursor.format == "iso" else local.strftime(cursor.format)


def parse_instant(value: Any, cursor: ModifiedCursor, zone: ZoneInfo) -> datetime | None:
    """A record's modified-at value as an aware instant (naive values are in `zone`)."""
    if value is None or value == "":
        return None
    if cursor.format in ("unix", "unix_ms"):
        seconds = float(value) / (1000 if cursor.format == "unix_ms" else 1)
        return datetime.fromtimestamp(seconds, UTC)
    if cursor.format == "iso":
        found = datetime.fromisoformat(str(value))
        return found if found.tzinfo is not None else found.replace(tzinfo=zone)
    found = datetime.strptime(str(value), cursor.format)  # noqa: DTZ007 - naive by the format: the zone is put on next
    return found if found.tzinfo is not None else found.replace(tzinfo=zone)


class _ReadBack:
    """The record a batch read right after its write (None: gone)."""

    def __init__(self, record: dict[str, Any] | None) -> None:
        self.record = record


class RestBackend:
    """A REST CRM through its connector file (see the module docstring)."""

    def __init__(self, name: str, config: RestConfig, client: RestClient | None = None) -> None:
        assert config.loaded is not None  # the validator read it
        self.name, self.config, self.connector = name, config, config.loaded
        self.zone = ZoneInfo(config.timezone)
        tokens = FileTokens(config.token_file) if config.token_file is not None else MemoryTokens()
        self.client = client or RestClient(name, self.connector, tokens=tokens,
                                           timeout=(config.timeout.connect, config.timeout.read),
                                           total=config.timeout.total, max_bytes=config.max_answer_mb << 20,
                                           attempts=config.attempts)
        cursors = [r.modified for r in self.connector.resources.values() if r.modified is not None]
        if cursors:  # a cursor source for the resources with a modified-at (``cursor_covers``)
            self.cursor_overlap = timedelta(seconds=max(c.overlap for c in cursors))
            self.cursor_lag = timedelta(seconds=max(c.lag for c in cursors))
        self.version_scan = len(cursors) < len(self.connector.resources)  # the others: key and version listings
        self._openapi_doc: dict[str, Any] | None = None
        self._description: dict[str, tuple[dict[str, str], dict[str, int]]] | None = None

    @property
    def mappings_dir(self) -> Path:
        return self.config.mappings

    def cursor_covers(self, spec: MappingSpec) -> bool:
        """Whether `spec`'s resource is read by its modified-at cursor (else by a version scan)."""
        return self.resource(spec).modified is not None

    def resource(self, spec: MappingSpec) -> Resource:
        found = self.connector.resources.get(spec.entity)
        if found is None:
            msg = (f"{self.name}: the mapping of {spec.model} names entity {spec.entity!r}, which the connector "
                   f"{self.connector.name} does not have.{did_you_mean(spec.entity, list(self.connector.resources))} "
                   f"Resources: {', '.join(self.connector.resources)}")
            raise ConfigError(msg)
        return found

    # -- reading ---------------------------------------------------------------------
    def _record(self, spec: MappingSpec, resource: Resource, raw: Mapping[str, Any]) -> RemoteRecord:
        key = raw.get(resource.key)
        version_field = resource.version or spec.version
        version = raw.get(version_field) if version_field else None
        deleted = bool(raw.get(spec.deleted)) if spec.deleted else False
        invalid = None if key not in (None, "") else f"the record has no {resource.key}"
        return RemoteRecord(str(key), None if version is None else str(version), deleted,
                            flatten(raw, resource.field_lists, resource.extract), invalid)

    def read(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[list[RemoteRecord]]:
        """Every record of the resource, a page at a time. `after` is not used: a REST listing
        has no key order to resume from; a pass read again is skipped by versions and hashes."""
        resource = self.resource(spec)
        for page in self.client.pages(resource, what=f"list {spec.entity}"):
            yield [self._record(spec, resource, raw) for raw in page]

    def scan(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[list[RemoteStub]]:
        for records in self.read(spec, after=after):
            yield [RemoteStub(r.id, r.version, r.deleted) for r in records]

    def fetch(self, spec: MappingSpec, ids: Sequence[str]) -> list[RemoteRecord]:
        resource = self.resource(spec)
        if resource.detail is None:  # no detail path: the listing, filtered
            wanted = set(ids)
            return [r for page in self.read(spec) for r in page if r.id in wanted]
        if resource.batch_reads and len(ids) > 1:
            return [self._record(spec, resource, raw) for raw in self._batch_details(spec, resource, ids).values()]
        found: list[RemoteRecord] = []
        for remote_id in ids:
            raw = self._detail(spec, resource, remote_id)
            if raw is not None:
                found.append(self._record(spec, resource, raw))
        return found

    def _batch_details(self, spec: MappingSpec, resource: Resource, ids: Sequence[str],
                       first: tuple[str, str] | None = None) -> dict[str, dict[str, Any]]:
        """Records by key, read by their detail path in the connector's batch calls (a key
        whose record is gone is left out). `first`: a (name, command) run before the reads,
        halting them if it fails (a write and its read-back)."""
        spec_batch, detail = self.connector.batch, resource.detail
        assert spec_batch is not None
        assert detail is not None
        commands = {first[0]: first[1]} if first else {}
        commands |= {f"r{i}": command(self.client.url(detail, id=k).removeprefix(self.client.base + "/")) for i, k in enumerate(ids)}
        results, errors = run_batch(self.client, spec_batch, commands, halt=first is not None,
                                    what=f"read {len(ids)} {spec.entity}")
        if first and first[0] in errors:
            msg = f"{self.name}: {spec.entity}: the CRM refused {first[0]}: {error_text(errors[first[0]])}"
            raise RemoteRejected(msg)
        found: dict[str, dict[str, Any]] = {}
        for i, key in enumerate(ids):
            error = errors.get(f"r{i}")
            if error is not None:
                if any(g.lower() in error_text(error).lower() for g in spec_batch.gone):
                    continue
                msg = f"{self.name}: read {spec.entity} {key} (in a batch): {error_text(error)}"
                raise RemoteRejected(msg)
            raw = select(results.get(f"r{i}", MISSING), parse_path(spec_batch.record))
            if isinstance(raw, dict):
                found[key] = raw
            elif raw is not MISSING:
                msg = f"{self.name}: read {spec.entity} {key} (in a batch): no record at {spec_batch.record or '(the result)'!r}; will retry"
                raise RemoteUnavailable(msg)
        return found

    def _detail(self, spec: MappingSpec, resource: Resource, remote_id: str) -> dict[str, Any] | None:
        if resource.detail is None:
            return next((r.values for r in self.fetch(spec, [remote_id])), None)
        try:
            body = self.client.call("GET", resource.detail, keys={"id": remote_id}, what=f"read {spec.entity} {remote_id}")
        except RemoteRejected as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        raw = select(body, parse_path(resource.detail_record))
        if isinstance(raw, list):  # some CRMs answer a detail read with a list of one
            raw = raw[0] if raw else None
        if raw is not None and not isinstance(raw, dict):
            msg = f"{self.name}: read {spec.entity} {remote_id}: no record at {resource.detail_record or '(the body)'!r}; will retry"
            raise RemoteUnavailable(msg)
        return raw

    def changed(self, spec: MappingSpec, since: datetime, until: datetime) -> Iterator[list[RemoteRecord]]:
        """Records modified in ``[since, until)``: ``since`` goes to the CRM, ``until`` is applied here."""
        resource = self.resource(spec)
        cursor = resource.modified
        if cursor is None:
            msg = f"{self.name}: {spec.entity} has no modified-at cursor in the connector"
            raise ConfigError(msg)
        zone = ZoneInfo(cursor.timezone) if cursor.timezone else self.zone
        params = {cursor.param: format_instant(since, cursor, zone)}
        for page in self.client.pages(resource, params=params, what=f"list {spec.entity} changed since {since:%Y-%m-%d %H:%M:%S}"):
            kept = []
            for raw in page:
                at = parse_instant(raw.get(cursor.field), cursor, zone)
                if at is None or at < until:
                    kept.append(self._record(spec, resource, raw))
            yield kept

    # -- writing ---------------------------------------------------------------------
    def _body(self, op: WriteOp, values: dict[str, Any], remote_id: str | None = None) -> Any:
        body: Any = values
        if op.wrap:
            for step in reversed(parse_path(op.wrap)):
                body = {str(step): body}
        if op.key_in_body and remote_id is not None:
            body = {op.key_in_body: int(remote_id) if remote_id.isdigit() else remote_id, **body}
        return [body] if op.list else body

    def _verified(self, spec: MappingSpec, resource: Resource, remote_id: str, sent: Mapping[str, Any],
                  answer: Any, op: WriteOp) -> str | None:
        """The version the write produced, once the record read back holds what was sent."""
        if isinstance(answer, _ReadBack):
            raw = answer.record
        else:
            raw = self._detail(spec, resource, remote_id) if op.reread or not isinstance(answer, dict) else answer
        if raw is None:
            msg = f"{self.name}: {spec.entity} {remote_id} is gone right after the write"
            raise RemoteRejected(msg)
        stored = flatten(raw, resource.field_lists)
        differ = {k: v for k, v in sent.items() if k in stored and stored[k] != v and str(stored[k]) != str(v)}
        missing = [k for k in sent if k not in stored]
        version_field = resource.version or spec.version
        version = stored.get(version_field) if version_field else None
        if differ or missing:
            said = "; ".join([*(f"{k}: sent {v!r}, stored {stored[k]!r}" for k, v in differ.items()),
                              *(f"{k}: not in the record read back" for k in missing)])
            raise RemoteStoredOtherwise(f"{self.name}: {spec.entity} {remote_id}: the CRM took the write but holds {said}",
                                        remote_id=remote_id, version=None if version is None else str(version),
                                        fields=[*differ, *missing])
        return None if version is None else str(version)

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
               expected_version: str | None = None) -> str | None:
        resource = self.resource(spec)
        op = resource.update
        if op is None:
            msg = f"{self.name}: the connector has no update for {spec.entity}; add resources.{spec.entity}.update"
            raise ConfigError(msg)
        send = unflatten(values, resource.field_lists)
        if op.replace:  # PUT replaces the record: send it whole, ours changed
            current = self._detail(spec, resource, remote_id)
            if current is None:
                msg = f"{self.name}: {spec.entity} {remote_id} no longer exists in the CRM"
                raise RemoteRejected(msg)
            send = {**current, **send}
        body = self._body(op, send, remote_id)
        if op.batch and isinstance(body, dict):  # the write, then the read-back, in one call
            write = command(self.client.url(op.path, id=remote_id).removeprefix(self.client.base + "/"), body)
            read = self._batch_details(spec, resource, [remote_id], first=(f"update {remote_id}", write))
            return self._verified(spec, resource, remote_id, values, _ReadBack(read.get(remote_id)), op)
        answer = self.client.call(op.method, op.path, keys={"id": remote_id}, json=body,
                                  what=f"update {spec.entity} {remote_id}")
        return self._verified(spec, resource, remote_id, values, answer, op)

    def create(self, spec: MappingSpec, values: dict[str, Any]) -> tuple[str, str | None]:
        resource = self.resource(spec)
        op = resource.create
        if op is None:
            msg = f"{self.name}: the connector has no create for {spec.entity}; add resources.{spec.entity}.create"
            raise ConfigError(msg)
        answer = self.client.call(op.method, op.path, json=self._body(op, unflatten(values, resource.field_lists)),
                                  what=f"create {spec.entity}")
        new_id = select(answer, parse_path(op.id or resource.key))
        if new_id in (MISSING, None, ""):
            msg = f"{self.name}: create {spec.entity}: the answer holds no id at {op.id or resource.key!r}; will retry"
            raise RemoteUnavailable(msg)  # the correlation key finds the record if it was made
        return str(new_id), self._verified(spec, resource, str(new_id), values, answer, op)

    def find(self, spec: MappingSpec, field: str, value: str) -> tuple[str, str | None] | None:
        resource = self.resource(spec)
        if resource.search is None:
            return None
        params = {resource.search.replace("{field}", field): value}
        for page in self.client.pages(resource, params=params, what=f"find {spec.entity} by {field}"):
            for raw in page:
                if str(raw.get(field)) == value:
                    record = self._record(spec, resource, raw)
                    return record.id, record.version
        return None

    # -- describing (mapping suggest / check) --------------------------------------------
    @property
    def described_by(self) -> str:
        """What ``describe`` reads (told by ``mapping suggest``)."""
        return "the connector's OpenAPI document" if self.connector.openapi else "the first page of each resource"

    @property
    def describes_by_sample(self) -> bool:
        """Whether ``describe`` guesses from records (``mapping check`` then checks each
        mapping against its own sample: an empty listing proves no field missing)."""
        return self.connector.openapi is None

    def _openapi(self) -> dict[str, Any]:
        if self._openapi_doc is None:
            where = self.connector.openapi or ""
            if where.startswith(("http://", "https://")):
                found = self.client.call("GET", where, what="read the OpenAPI document")
            else:
                path = Path(where) if Path(where).is_absolute() else self.config.connector.parent / where
                if not path.is_file():
                    msg = f"{self.config.connector}: openapi: {path} is no file; download the CRM's OpenAPI document there or give its URL"
                    raise ConfigError(msg)
                found = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
            if not isinstance(found, dict) or not isinstance(found.get("paths", found.get("components")), dict):
                msg = f"{self.config.connector}: openapi: {where} is not an OpenAPI document (no paths: or components:)"
                raise ConfigError(msg)
            self._openapi_doc = found
        return self._openapi_doc

    def _sample(self, name: str, resource: Resource) -> list[dict[str, Any]]:
        pages = self.client.pages(resource, what=f"list {name} (a sample)")
        try:
            first = next(iter(pages), [])
        finally:
            getattr(pages, "close", lambda: None)()  # only the first page is read
        return [flatten(raw, resource.field_lists, resource.extract) for raw in first]

    def _described(self) -> dict[str, tuple[dict[str, str], dict[str, int]]]:
        if self._description is None:
            found: dict[str, tuple[dict[str, str], dict[str, int]]] = {}
            for name, resource in self.connector.resources.items():
                if self.connector.openapi:
                    types, lengths = openapi_types(self._openapi(), resource, f"{self.config.connector}: resources.{name}")
                    if resource.field_lists:  # custom fields by id: only records name them
                        types = sample_types(self._sample(name, resource)) | types
                    found[name] = types, lengths
                else:
                    found[name] = sample_types(self._sample(name, resource)), {}
            self._description = found
        return self._description

    def describe(self) -> dict[str, dict[str, str]]:
        """Resource → {field: Edm type}: from the connector's OpenAPI document, or guessed
        from the first page of each resource as the mappings see records (``describe.py``)."""
        return {name: types for name, (types, _) in self._described().items()}

    def describe_lengths(self) -> dict[str, dict[str, int]]:
        """Resource → {string field: maxLength} where the OpenAPI document gives one."""
        return {name: lengths for name, (_, lengths) in self._described().items() if lengths}

    def check(self) -> list[dict[str, Any]]:
        """``crm-bridge check``: each mapped resource answers its first page."""
        lines: list[dict[str, Any]] = []
        for name, resource in self.connector.resources.items():
            try:
                first = next(iter(self.client.pages(resource, what=f"list {name}")), [])
            except (RemoteUnavailable, RemoteRejected) as exc:
                lines.append({"ok": False, "detail": f"{name}: {exc.once if isinstance(exc, RemoteUnavailable) else exc}"})
                continue
            lines.append({"ok": True, "detail": f"{name}: {shown(self.client.url(resource.path), hide=self.client.hidden)} answers ({len(first)} records on the first page)"})
        return lines

    def close(self) -> None:
        self.client.session.close()
