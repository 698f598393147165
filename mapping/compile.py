"""Compile a ``MappingSpec`` once into plain functions for both directions.

``to_canonical(values, resolve)`` turns one remote record's values into canonical fields
(only fields the remote owns, or all of them on create); ``to_remote(fields, resolve)``
turns canonical changes into the remote fields to send (only fields crm-bridge owns).
References go through the caller's resolver: remote id → local id on import, local id →
remote id on export, so the mapping never touches the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crm_bridge.errors import ConfigError, did_you_mean
from mapping.spec import FieldSpec, MappingSpec
from mapping.transforms import BUILTIN_TRANSFORMS, Transform

__all__ = ["CompiledMapping", "Resolver", "compile_mapping"]

Resolver = Callable[[str, Any], Any]  # (referenced model, id) -> id on the other side
_IGNORE = object()


def _value_map(spec: FieldSpec) -> Callable[[Any], Any]:
    table = dict(spec.map or {})
    default = spec.default
    if default == "keep":
        return lambda v: table.get(v, v)
    if default == "ignore":
        return lambda v: table.get(v, _IGNORE)
    return lambda v: table.get(v, default)


def _reverse_map(spec: FieldSpec) -> Callable[[Any], Any]:
    reverse = {v: k for k, v in (spec.map or {}).items()}
    return lambda v: reverse.get(v, v)


def _chain(functions: list[Transform]) -> Transform:
    def run(value: Any) -> Any:
        for fn in functions:
            if value is None:
                return None
            value = fn(value)
        return value

    return run


@dataclass(frozen=True)
class _Inbound:
    name: str
    source: str
    convert: Transform
    ref: str | None
    only_create: bool


@dataclass(frozen=True)
class _Outbound:
    name: str
    target: str
    convert: Transform
    ref: str | None


@dataclass(frozen=True)
class CompiledMapping:
    spec: MappingSpec
    inbound: tuple[_Inbound, ...]
    outbound: tuple[_Outbound, ...]

    @property
    def local_fields(self) -> frozenset[str]:
        """Canonical fields crm-bridge decides and writes back."""
        return frozenset(o.name for o in self.outbound)

    def reference_sources(self) -> list[tuple[str, str]]:
        """(remote field, referenced model) of every imported reference."""
        return [(f.source, f.ref) for f in self.inbound if f.ref is not None]

    def to_canonical(self, values: Mapping[str, Any], resolve: Resolver, *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.inbound:
            if f.only_create and not creating:
                continue
            value = f.convert(values.get(f.source))
            if value is _IGNORE:
                continue
            if f.ref is not None and value is not None:
                value = resolve(f.ref, value)
            out[f.name] = value
        return out

    def to_remote(self, fields: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.outbound:
            if f.name not in fields:
                continue
            value = fields[f.name]
            if f.ref is not None and value is not None:
                value = resolve(f.ref, value)
            out[f.target] = f.convert(value) if value is not None else None
        return out


def compile_mapping(spec: MappingSpec, extra_transforms: Mapping[str, Transform] | None = None) -> CompiledMapping:
    """Resolve transform names and build the per-field functions once.

    Raises:
        ConfigError: a transform name is unknown (with a suggestion).
    """
    library = {**BUILTIN_TRANSFORMS, **(extra_transforms or {})}
    inbound: list[_Inbound] = []
    outbound: list[_Outbound] = []
    for name, field in spec.fields.items():
        steps: list[Transform] = []
        for t in field.transform:
            if t not in library:
                raise ConfigError(
                    f"mapping {spec.model}.{name}: unknown transform {t!r}.{did_you_mean(t, list(library))}"
                    f" Known: {', '.join(sorted(library))}"
                )
            steps.append(library[t])
        if field.map is not None:
            steps.append(_value_map(field))
        if field.owner in ("remote", "newest"):
            inbound.append(_Inbound(name, field.source, _chain(steps), field.ref, field.only_create))
        if field.owner in ("local", "newest"):
            back = _reverse_map(field) if field.map is not None else (lambda v: v)
            outbound.append(_Outbound(name, field.source, back, field.ref))
    return CompiledMapping(spec, tuple(inbound), tuple(outbound))
