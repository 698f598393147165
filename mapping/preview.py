"""``mapping preview``: real remote records next to what the mapping makes of them.

Reads (never writes) up to `limit` records through the backend's ``read`` and returns,
per record, the remote values the mapping reads, the canonical fields it produces (with
what the canonical model would refuse), and what a write-back would send for the fields
crm-bridge owns or shares. References show the remote key they would resolve through the
bindings, as ``→customer <key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from pydantic import ValidationError

from crm_bridge.errors import RecordSkipped
from crm_bridge.model import MODELS
from mapping.compile import compile_mapping
from mapping.remote import RecordLike, RecordSource
from mapping.spec import MappingSpec
from mapping.transforms import Transform

__all__ = ["PreviewRow", "RemoteRef", "preview", "preview_records"]


@dataclass(frozen=True)
class RemoteRef:
    """A reference as preview shows it: not resolved, since preview touches no store."""

    model: str
    remote_id: Any

    def __str__(self) -> str:
        return f"→{self.model} {self.remote_id}"


@dataclass
class PreviewRow:
    id: str
    source: dict[str, Any]
    canonical: dict[str, Any]
    write_back: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def plain(values: Mapping[str, Any]) -> dict[str, Any]:
            return {k: (str(v) if isinstance(v, RemoteRef) else v) for k, v in values.items()}

        return {"id": self.id, "source": plain(self.source), "canonical": plain(self.canonical),
                "write_back": plain(self.write_back), "problems": self.problems}


def _problems(model: str, canonical: Mapping[str, Any]) -> list[str]:
    cls = MODELS.get(model)
    if cls is None:
        return []
    stand_in = {k: (1 if isinstance(v, RemoteRef) else v) for k, v in canonical.items() if k in cls.model_fields}
    try:
        cls.model_validate(stand_in)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc'])) or model}: {e['msg']}" for e in exc.errors()]
    return []


def preview_records(spec: MappingSpec, records: list[RecordLike], *, timezone: str | None = None,
                    extra_transforms: Mapping[str, Transform] | None = None) -> list[PreviewRow]:
    """What `spec` makes of `records` in both directions (pure: no I/O)."""
    compiled = compile_mapping(spec, extra_transforms, timezone=timezone)
    everything = compile_mapping(spec.model_copy(update={"fields": {
        k: f.model_copy(update={"owner": "remote", "only_create": False}) for k, f in spec.fields.items()}}),
        extra_transforms, timezone=timezone)
    sources = spec.remote_fields()
    rows = []
    for rec in records:
        values = rec.values
        source = {k: values.get(k) for k in sources if k in values}
        try:
            canonical = compiled.to_canonical(values, RemoteRef, creating=True)
            current = everything.to_canonical(values, RemoteRef, creating=True)
        except RecordSkipped as exc:
            rows.append(PreviewRow(rec.id, source, {}, {}, [str(exc)]))
            continue
        shared = {k: v for k, v in current.items() if k in compiled.local_fields}
        write_back = compiled.to_remote(shared, lambda _m, ref: ref.remote_id if isinstance(ref, RemoteRef) else ref)
        rows.append(PreviewRow(rec.id, source, canonical, write_back, _problems(spec.model, canonical)))
    return rows


def preview(backend: RecordSource, spec: MappingSpec, *, limit: int = 20, timezone: str | None = None,
            extra_transforms: Mapping[str, Transform] | None = None) -> list[PreviewRow]:
    """Read up to `limit` records of the mapped entity and preview them. Writes nothing."""
    records: list[RecordLike] = []
    pages = backend.read(spec)
    try:
        for page in pages:
            records += list(islice(page, limit - len(records)))
            if len(records) >= limit:
                break
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
    return preview_records(spec, records, timezone=timezone, extra_transforms=extra_transforms)
