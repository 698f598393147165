"""Compile a ``MappingSpec`` once into plain functions for both directions.

``to_canonical(values, resolve, *, creating)`` turns one remote record's values into
canonical fields (only fields the remote owns or shares; ``only_create`` fields only when
creating); ``to_remote(fields, resolve)`` turns canonical changes into the remote fields
to send (only fields crm-bridge owns or shares). References go through the caller's
resolver: remote id → local id on import, local id → remote id on export, so the
mapping never touches the store (the sync engine imports a missing referenced record).

Both functions are generated once per mapping as straight-line Python (one local
variable, no loop over the spec, no name lookups per record): the per-field converters
and constants are bound as globals of the generated function, no text from the mapping
file ever becomes code. A failing transform becomes ``RecordSkipped`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from crm_bridge.errors import ConfigError, RecordSkipped, did_you_mean
from mapping.spec import ChildSpec, FieldSpec, MappingSpec
from mapping.transforms import Transform, TransformDef, library, step_parts

__all__ = ["IGNORE", "CompiledMapping", "Resolver", "compile_mapping", "map_table"]

Resolver = Callable[[str, Any], Any]  # (referenced model, id) -> id on the other side
IGNORE: Any = object()  # a value map's `default: ignore`: the field is left out
_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError)
_TRUE, _FALSE, _NULL = ("true", "True", "yes"), ("false", "False", "no"), ("null", "None", "~")


def map_table(entries: Mapping[str, Any]) -> dict[Any, Any]:
    """A value map keyed by what values really are: YAML keys are text, 1C sends
    ``true``/``false`` as booleans and numbers as numbers."""
    table: dict[Any, Any] = {}
    for key, value in entries.items():
        table[key] = value
        if key in _TRUE:
            table.setdefault(True, value)
        elif key in _FALSE:
            table.setdefault(False, value)
        elif key in _NULL:
            table.setdefault(None, value)
        elif key.lstrip("-").isdigit() and key.lstrip("-")[:1] != "0":
            table.setdefault(int(key), value)
    return table


def _steps(spec: FieldSpec, where: str, lib: Mapping[str, TransformDef], zone: ZoneInfo | None) -> list[tuple[Transform, bool, Transform | None]]:
    """(forward, takes_none, undo) per transform step."""
    built: list[tuple[Transform, bool, Transform | None]] = []
    for step in spec.transform:
        name, arg = step_parts(step)
        found = lib.get(name)
        if found is None:
            raise ConfigError(f"mapping {where}: unknown transform {name!r}.{did_you_mean(name, list(lib))} Known: {', '.join(sorted(lib))}")
        undo = found.undo(arg, zone) if found.undo is not None else None
        built.append((found.make(arg, zone), found.takes_none, undo))
    return built


def _value_map(spec: FieldSpec) -> Transform | None:
    if spec.map is None and spec.regex is None:
        return None
    table = map_table(spec.map or {})
    patterns = [(re.compile(p), v) for p, v in (spec.regex or {}).items()]
    default = spec.default
    keep, ignore = default == "keep", default == "ignore"
    miss = object()

    def mapped(value: Any) -> Any:
        found = table.get(value, miss) if value.__hash__ is not None else miss
        if found is not miss:
            return found
        if patterns and isinstance(value, str):
            for pattern, target in patterns:
                if pattern.search(value):
                    return target
        return value if keep else IGNORE if ignore else default

    return mapped


def _typed(key: str) -> Any:
    """A map key as the remote value it stands for on write-back (booleans and null typed)."""
    return True if key in _TRUE else False if key in _FALSE else None if key in _NULL else key


def _hashable(value: Any) -> Any:
    return value if value.__hash__ is not None else repr(value)


def _reverse_map(spec: FieldSpec) -> dict[Any, Any] | None:
    """Canonical value → remote value: the first map entry per value, then `reverse:`."""
    if spec.map is None and spec.reverse is None:
        return None
    reverse: dict[Any, Any] = {}
    for key, value in (spec.map or {}).items():
        if value.__hash__ is not None:
            reverse.setdefault(value, _typed(key))
    reverse.update(map_table(spec.reverse or {}))
    return reverse


@dataclass(frozen=True)
class _Inbound:
    name: str
    inputs: tuple[str, ...]
    steps: tuple[tuple[Transform, bool], ...]
    mapped: Transform | None
    ref: str | None
    only_create: bool

    def read(self, values: Mapping[str, Any]) -> Any:
        """This field's value before the reference is resolved (the slow, explaining path)."""
        if len(self.inputs) > 1:
            value: Any = {k: values.get(k) for k in self.inputs}
        else:
            value = values.get(self.inputs[0]) if self.inputs else None
        for fn, takes_none in self.steps:
            if value is not None or takes_none:
                value = fn(value)
        return self.mapped(value) if self.mapped is not None else value


@dataclass(frozen=True)
class _Outbound:
    name: str
    target: str
    ref: str | None
    reverse: dict[Any, Any] | None
    undo: tuple[Transform, ...]


@dataclass(frozen=True)
class _Child:
    name: str
    source: str
    key: tuple[str, ...]
    fields: tuple[_Inbound, ...]

    @property
    def flat(self) -> bool:
        """Rows of one field are stored as the list of its values (``co_executors: [3, 7]``)."""
        return len(self.fields) == 1

    def rows(self, value: Any, resolve: Resolver) -> list[Any]:
        """The mapped rows, one per match key (a later row with the same key wins), in the
        remote's order; for a one-field child the values alone, without the empty ones (a
        reference to a record that is not imported: a service user)."""
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for raw in value or ():
            row: dict[str, Any] = {}
            for f in self.fields:
                v = f.read(raw)
                if v is IGNORE:
                    continue
                row[f.name] = resolve(f.ref, v) if f.ref is not None and v is not None else v
            by_key[tuple(row.get(k) for k in self.key)] = row
        if self.flat:
            name = self.fields[0].name
            return [row[name] for row in by_key.values() if row.get(name) is not None]
        return list(by_key.values())


@dataclass(frozen=True)
class _ChildOut:
    """A child crm-bridge writes back: the whole section, every row, as the remote keeps it."""

    name: str
    source: str
    fields: tuple[_Outbound, ...]
    fixed: tuple[tuple[str, Any], ...]

    def rows(self, value: Any, resolve: Resolver) -> list[dict[str, Any]]:
        """Remote rows for the canonical list `value` (a one-field child's values, or row
        dicts), in its order, each with the ``fixed`` fields. The adapter numbers them."""
        out: list[dict[str, Any]] = []
        for item in value or ():
            row_values = item if isinstance(item, Mapping) else {self.fields[0].name: item}
            row: dict[str, Any] = {}
            for o in self.fields:
                v = row_values.get(o.name)
                if o.ref is not None and v is not None:
                    v = resolve(o.ref, v)
                if o.reverse is not None:
                    v = o.reverse.get(v, v)
                for fn in o.undo:
                    if v is not None:
                        v = fn(v)
                row[o.target] = v
            row.update(self.fixed)
            out.append(row)
        return out


class _Code:
    """Straight-line source plus the objects it refers to by generated names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {"IGNORE": IGNORE}

    def bind(self, prefix: str, obj: Any) -> str:
        name = f"{prefix}{len(self.env)}"
        self.env[name] = obj
        return name

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def functions(self, label: str) -> dict[str, Any]:
        namespace: dict[str, Any] = dict(self.env)
        exec(compile("\n".join(self.lines), f"<mapping {label}>", "exec"), namespace)  # noqa: S102 - no spec text in the code
        return namespace


def _emit_inbound(code: _Code, f: _Inbound, depth: int, fm: FieldSpec) -> None:
    if len(f.inputs) > 1:
        code.emit(depth, f"v = {{k: get(k) for k in {code.bind('K', f.inputs)}}}")
    elif f.inputs:
        code.emit(depth, f"v = get({code.bind('S', f.inputs[0])})")
    else:
        code.emit(depth, "v = None")
    for fn, takes_none in f.steps:
        call = f"v = {code.bind('t', fn)}(v)"
        code.emit(depth, call if takes_none else f"if v is not None: {call}")
    can_ignore = False
    if f.mapped is not None:
        if fm.regex is None:  # exact only: one dict lookup inline
            table = code.bind("T", map_table(fm.map or {}))
            default = "v" if fm.default == "keep" else "IGNORE" if fm.default == "ignore" else code.bind("D", fm.default)
            code.emit(depth, f"v = {table}.get(v, {default})")
        else:
            code.emit(depth, f"v = {code.bind('m', f.mapped)}(v)")
        can_ignore = fm.default == "ignore"
    if f.ref is not None:
        code.emit(depth, f"if v is not None{' and v is not IGNORE' if can_ignore else ''}: v = resolve({code.bind('M', f.ref)}, v)")
    target = code.bind("N", f.name)
    code.emit(depth, f"if v is not IGNORE: out[{target}] = v" if can_ignore else f"out[{target}] = v")


@dataclass(frozen=True)
class CompiledMapping:
    """A mapping ready to run: plain functions built once from the spec."""

    spec: MappingSpec
    inbound: tuple[_Inbound, ...]
    outbound: tuple[_Outbound, ...]
    children: tuple[_Child, ...] = ()
    children_out: tuple[_ChildOut, ...] = ()
    _in: Callable[..., dict[str, Any]] = field(default=dict, repr=False)
    _out: Callable[..., dict[str, Any]] = field(default=dict, repr=False)

    @property
    def local_fields(self) -> frozenset[str]:
        """Canonical fields crm-bridge decides (or shares) and writes back."""
        return frozenset(o.name for o in self.outbound) | {c.name for c in self.children_out}

    @cached_property
    def owners(self) -> dict[str, str]:
        """Canonical field → owner (remote, local, newest), for the sync engine's merge
        (built once: the importer asks for it at every record; do not change the dict).
        A child (tabular section) is owned as a whole, like one field."""
        return {**{name: f.owner for name, f in self.spec.fields.items()},
                **{name: c.owner for name, c in self.spec.children.items()}}

    @cached_property
    def owned_locally(self) -> tuple[str, ...]:
        """The canonical fields crm-bridge owns (``owners`` says ``local``): what the importer
        compares for every new record, without asking each field's owner."""
        return tuple(name for name, owner in self.owners.items() if owner == "local")

    @cached_property
    def child_sources(self) -> dict[str, str]:
        """Remote section (``Соисполнители``) → the canonical list field it is stored in."""
        return {c.source: name for name, c in self.spec.children.items()}

    @cached_property
    def read_at_creation(self) -> frozenset[str]:
        """The canonical fields ``to_canonical(..., creating=True)`` returns: those a remote
        owns or shares, and the tabular sections."""
        return frozenset(f.name for f in self.inbound) | {c.name for c in self.children}

    @cached_property
    def reading_everything(self) -> CompiledMapping:
        """This mapping reading every field, whoever owns it, on every read (not only at
        creation): what the remote holds of the fields crm-bridge decides too — the sync
        engine's merge base. Compiled once per mapping."""
        fields = {k: f.model_copy(update={"owner": "remote", "only_create": False}) for k, f in self.spec.fields.items()}
        return compile_mapping(self.spec.model_copy(update={"fields": fields}))

    @cached_property
    def writing_everything(self) -> CompiledMapping:
        """This mapping writing every field that can go back (one remote field each, and
        every field crm-bridge decides): what a record created here sends to the remote.
        The mapping itself when such a variant does not compile. Compiled once per mapping."""
        spec = self.spec
        writable = {k: f.model_copy(update={"owner": "newest"}) for k, f in spec.fields.items()
                    if len(f.inputs) == 1 and f.owner != "local"}
        writable.update({k: f for k, f in spec.fields.items() if f.owner == "local"})
        try:
            return compile_mapping(spec.model_copy(update={"fields": writable}))
        except ConfigError:
            return self

    @cached_property
    def _many_to_one(self) -> dict[str, dict[Any, Any]]:
        """Written fields whose value map sends two canonical values as one remote value
        (canonical → remote), e.g. priority's urgent and high both as 1C's Высокая."""
        found: dict[str, dict[Any, Any]] = {}
        for o in self.outbound:
            if o.reverse and len(set(map(_hashable, o.reverse.values()))) < len(o.reverse):
                found[o.name] = o.reverse
        return found

    def written_alike(self, name: str, ours: Any, theirs: Any) -> bool:
        """Whether field `name`'s canonical values `ours` and `theirs` differ but go to the
        remote as one value (a lossy, many-to-one value map): a remote read as `theirs`
        then still holds what `ours` was written as, and the sync engine keeps `ours`
        (an escalation's ``urgent`` is not lowered to ``high`` by 1C's Высокая read back)."""
        table = self._many_to_one.get(name)
        if table is None or ours == theirs:
            return False
        try:
            return ours in table and theirs in table and _hashable(table[ours]) == _hashable(table[theirs])
        except TypeError:  # an unhashable value is in no value map
            return False

    def reference_sources(self) -> list[tuple[str, str]]:
        """(remote field, referenced model) of every imported reference."""
        return [(f.inputs[0], f.ref) for f in self.inbound if f.ref is not None and f.inputs]

    def to_canonical(self, values: Mapping[str, Any], resolve: Resolver, *, creating: bool) -> dict[str, Any]:
        """Canonical fields of one remote record.

        Raises:
            RecordSkipped: a transform refused a value; the message names field and value.
        """
        return self._in(values, resolve, creating)

    def to_remote(self, fields: Mapping[str, Any], resolve: Resolver) -> dict[str, Any]:
        """Remote fields to send for the canonical `fields` crm-bridge owns or shares."""
        return self._out(fields, resolve)



def _inbound_of(spec: FieldSpec, name: str, where: str, lib: Mapping[str, TransformDef], zone: ZoneInfo | None) -> _Inbound:
    steps = _steps(spec, where, lib, zone)
    return _Inbound(name, spec.inputs, tuple((s[0], s[1]) for s in steps), _value_map(spec), spec.ref, spec.only_create)


def _child(name: str, child: ChildSpec, model: str, lib: Mapping[str, TransformDef], zone: ZoneInfo | None) -> _Child:
    fields = tuple(_inbound_of(f, n, f"{model}.{name}.{n}", lib, zone) for n, f in child.fields.items())
    return _Child(name, child.source, tuple(child.key), fields)


def _explainer(spec: MappingSpec, inbound: list[_Inbound]) -> Callable[[Mapping[str, Any], Exception], RecordSkipped]:
    def explain(values: Mapping[str, Any], error: Exception) -> RecordSkipped:
        """Which field made the fast path fail, as a ``RecordSkipped``."""
        for f in inbound:
            try:
                f.read(values)
            except _ERRORS as exc:
                shown = {k: values.get(k) for k in f.inputs}
                return RecordSkipped(f"{spec.model} from {spec.entity}: field {f.name} (from {shown}): {exc}; "
                                     "fix the value in the CRM or the mapping's transform")
        return RecordSkipped(f"{spec.model} from {spec.entity}: {type(error).__name__}: {error}")

    return explain


def _child_out(name: str, child: ChildSpec, model: str, lib: Mapping[str, TransformDef], zone: ZoneInfo | None) -> _ChildOut:
    fields: list[_Outbound] = []
    for n, f in child.fields.items():
        steps = _steps(f, f"{model}.{name}.{n}", lib, zone)
        undo = tuple(s[2] for s in reversed(steps) if s[2] is not None)
        fields.append(_Outbound(n, f.source, f.ref, _reverse_map(f), undo))
    return _ChildOut(name, child.source, tuple(fields), tuple(child.fixed.items()))


def _generate(spec: MappingSpec, inbound: list[_Inbound], outbound: list[_Outbound], children: list[_Child],
              children_out: Sequence[_ChildOut] = ()) -> tuple[Callable[..., Any], Callable[..., Any]]:
    code = _Code()
    code.env["EXPLAIN"] = _explainer(spec, inbound)
    code.emit(0, "def to_canonical(values, resolve, creating):")
    code.emit(1, "get = values.get")
    code.emit(1, "out = {}")
    code.emit(1, "try:")
    code.emit(2, "pass")
    for f in inbound:
        if not f.only_create:
            _emit_inbound(code, f, 2, spec.fields[f.name])
    if any(f.only_create for f in inbound):
        code.emit(2, "if creating:")
        for f in inbound:
            if f.only_create:
                _emit_inbound(code, f, 3, spec.fields[f.name])
    for c in children:
        code.emit(2, f"out[{code.bind('N', c.name)}] = {code.bind('c', c.rows)}(get({code.bind('S', c.source)}), resolve)")
    code.emit(1, f"except {code.bind('E', _ERRORS)} as exc:")
    code.emit(2, "raise EXPLAIN(values, exc) from exc")
    code.emit(1, "return out")
    code.emit(0, "def to_remote(fields, resolve):")
    code.emit(1, "out = {}")
    for o in outbound:
        code.emit(1, f"if {(n := code.bind('N', o.name))} in fields:")
        code.emit(2, f"v = fields[{n}]")
        if o.ref is not None:
            code.emit(2, f"if v is not None: v = resolve({code.bind('M', o.ref)}, v)")
        if o.reverse is not None:
            code.emit(2, f"v = {code.bind('T', o.reverse)}.get(v, v)")
        for fn in o.undo:
            code.emit(2, f"if v is not None: v = {code.bind('u', fn)}(v)")
        code.emit(2, f"out[{code.bind('S', o.target)}] = v")
    for w in children_out:  # the whole section: a PATCH replaces it
        code.emit(1, f"if {(n := code.bind('N', w.name))} in fields:")
        code.emit(2, f"out[{code.bind('S', w.source)}] = {code.bind('c', w.rows)}(fields[{n}], resolve)")
    code.emit(1, "return out")
    made = code.functions(f"{spec.model} from {spec.entity}")
    return made["to_canonical"], made["to_remote"]


def compile_mapping(spec: MappingSpec, extra_transforms: Mapping[str, Transform] | None = None, *, timezone: str | None = None) -> CompiledMapping:
    """Resolve transform names and build the per-field functions once.

    Args:
        spec: the mapping.
        extra_transforms: transforms beyond the built-in and registered ones.
        timezone: zone for naive dates when the spec names none (the backend's).

    Raises:
        ConfigError: a transform name is unknown (with a suggestion).
    """
    lib = library(extra_transforms)
    zone_name = spec.timezone or timezone
    zone = ZoneInfo(zone_name) if zone_name else None
    inbound: list[_Inbound] = []
    outbound: list[_Outbound] = []
    for name, fs in spec.fields.items():
        steps = _steps(fs, f"{spec.model}.{name}", lib, zone)
        if fs.owner in ("remote", "newest"):
            inbound.append(_Inbound(name, fs.inputs, tuple((s[0], s[1]) for s in steps), _value_map(fs), fs.ref, fs.only_create))
        if fs.owner in ("local", "newest") and fs.source:
            undo = tuple(s[2] for s in reversed(steps) if s[2] is not None)
            outbound.append(_Outbound(name, fs.source, fs.ref, _reverse_map(fs), undo))
    children = [_child(n, c, spec.model, lib, zone) for n, c in spec.children.items()]
    children_out = [_child_out(n, c, spec.model, lib, zone) for n, c in spec.children.items() if c.owner != "remote"]
    to_canonical, to_remote = _generate(spec, inbound, outbound, children, children_out)
    return CompiledMapping(spec, tuple(inbound), tuple(outbound), tuple(children), tuple(children_out),
                           to_canonical, to_remote)

