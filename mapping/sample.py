"""Checks on a sample of remote records: value-map gaps, values a transform or the
canonical model refuses. Each finding counts how many sample records show it."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from crm_bridge.errors import ConfigError
from crm_bridge.model import MODELS
from crm_bridge.yamlfile import Path_
from mapping.compile import IGNORE, compile_mapping
from mapping.kinds import accepts, canonical_fields, fix_hint, value_kind
from mapping.spec import MappingSpec
from mapping.transforms import Transform

__all__ = ["sample_problems"]

_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError)


@functools.cache
def _adapter(model: str, name: str) -> TypeAdapter[Any]:
    info = MODELS[model].model_fields[name]
    annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation)


def _refusal(model: str, name: str, value: Any) -> str | None:
    try:
        _adapter(model, name).validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def sample_problems(spec: MappingSpec, sample: Sequence[Mapping[str, Any]], extra: Mapping[str, Transform] | None = None) -> list[tuple[Path_, str]]:
    """(path in the file, message) for every value of the sample the mapping cannot import."""
    try:
        compiled = compile_mapping(spec, extra)
    except ConfigError:
        return []  # an unknown transform: reported by the static checks
    canonical = canonical_fields(spec.model)
    total = len(sample)
    found: list[tuple[Path_, str]] = []
    for conv in compiled.inbound:
        target = canonical.get(conv.name)
        if target is None or conv.ref is not None:
            continue
        fs = spec.fields[conv.name]
        before_map = dataclasses.replace(conv, mapped=None)
        failures: dict[str, list[Any]] = {}
        refused: dict[str, tuple[Any, Any, str, int]] = {}
        for record in sample:
            try:
                raw = before_map.read(record)
                value = conv.mapped(raw) if conv.mapped is not None else raw
            except _ERRORS as exc:
                failures.setdefault(str(exc), []).append({k: record.get(k) for k in conv.inputs})
                continue
            if value is IGNORE or (value is None and target.nullable):
                continue
            reason = _refusal(spec.model, conv.name, value)
            if reason is not None:
                key = repr(raw)
                seen = refused.get(key)
                refused[key] = (raw, value, reason, (seen[3] if seen else 0) + 1)
        path: Path_ = ("fields", conv.name)
        for message, inputs in failures.items():
            found.append((path, f"fails on {len(inputs)} of {total} sample records, e.g. {_shown(inputs[0])}: {message}; "
                          "fix the transform (or its format) or the data"))
        for raw, value, reason, count in refused.values():
            where = f"{count} of {total} sample records"
            if fs.map is not None or fs.regex is not None:
                keys = [k for k in (fs.map or {}) if isinstance(raw, str)]
                typo = difflib.get_close_matches(str(raw), keys, n=1, cutoff=0.75)
                hint = f" (the map has {typo[0]!r}: a typo?)" if typo else ""
                choices = "|".join(target.choices) if target.choices else "<value>"
                found.append(((*path, "map"), f"value-map gap: {_shown(raw)} (in {where}) has no entry{hint} and is kept "
                              f"as is, which {spec.model}.{conv.name} refuses. Add `{raw}: <{choices}>` to `map:`, "
                              "or set `default:`"))
            elif value is None:
                found.append((path, f"{where} have no value, but {spec.model}.{conv.name} is required; map a remote "
                              "field that is always filled, or fix those records in the CRM"))
            else:
                kind = value_kind(value)
                hint = "fix those records in the CRM, or correct them with a value map" if accepts(target, kind) else fix_hint(kind, target)
                found.append((path, f"sample value {_shown(raw)} (in {where}) becomes {_shown(value)}, which "
                              f"{spec.model}.{conv.name} refuses ({reason}); {hint}"))
    return found
