"""Value kinds, for ``mapping check``: what a remote field holds, what a canonical field takes.

A kind is a coarse type: ``text guid int number bool datetime list object any``. Remote
kinds come from 1C ``$metadata`` (Edm types) or from a sample record's Python values;
canonical kinds from the pydantic models in ``crm_bridge.model``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from crm_bridge.model import MODELS

__all__ = ["CanonicalField", "accepts", "canonical_fields", "describe_kind", "edm_kind", "fix_hint", "value_kind"]

_EDM = {
    "Edm.String": "text",
    "Edm.Guid": "guid",
    "Edm.Boolean": "bool",
    "Edm.DateTime": "datetime",
    "Edm.DateTimeOffset": "datetime",
    "Edm.Date": "datetime",
    "Edm.Byte": "int",
    "Edm.SByte": "int",
    "Edm.Int16": "int",
    "Edm.Int32": "int",
    "Edm.Int64": "int",
    "Edm.Decimal": "number",
    "Edm.Double": "number",
    "Edm.Single": "number",
    "Edm.Binary": "text",
    "Edm.Stream": "text",
}
_WORDS = {
    "text": "text",
    "guid": "a reference key (GUID)",
    "int": "a whole number",
    "number": "a number",
    "bool": "yes/no",
    "datetime": "a date and time",
    "list": "a list (tabular section)",
    "object": "several sources",
    "any": "any value",
    "enum": "one of a fixed set of values",
}


def edm_kind(edm: str) -> str:
    """``Edm.Boolean`` → ``bool``; ``Collection(...)`` → ``list``; unknown → ``any``."""
    if edm.startswith("Collection("):
        return "list"
    return _EDM.get(edm, "any")


def value_kind(value: Any) -> str:
    """Kind of a Python value from a sample record or a YAML constant."""
    if value is None:
        return "any"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, datetime | date):
        return "datetime"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "text"


def describe_kind(kind: str) -> str:
    return _WORDS.get(kind, kind)


@dataclass(frozen=True)
class CanonicalField:
    name: str
    kind: str  # text int bool datetime enum
    choices: tuple[str, ...] = ()  # enum values
    required: bool = False
    nullable: bool = True


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            annotation = args[0] if len(args) == 1 else Any
        else:
            return annotation, nullable


def canonical_fields(model: str) -> dict[str, CanonicalField]:
    """The fields of a canonical model with their kinds (empty for an unknown model)."""
    cls = MODELS.get(model)
    if cls is None:
        return {}
    found: dict[str, CanonicalField] = {}
    for name, info in cls.model_fields.items():
        annotation, nullable = _unwrap(info.annotation)
        choices: tuple[str, ...] = ()
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            kind, choices = "enum", tuple(str(m.value) for m in annotation)
        elif annotation is bool:
            kind = "bool"
        elif annotation is int:
            kind = "int"
        elif annotation is str:
            kind = "text"
        elif isinstance(annotation, type) and issubclass(annotation, datetime):
            kind = "datetime"
        else:
            kind = "any"
        found[name] = CanonicalField(name, kind, choices, info.is_required(), nullable)
    return found


_ACCEPTS: dict[str, frozenset[str]] = {
    "text": frozenset({"text", "guid"}),
    "enum": frozenset({"text"}),
    "int": frozenset({"int", "number"}),
    "bool": frozenset({"bool"}),
    "datetime": frozenset({"datetime"}),
}


def accepts(target: CanonicalField, kind: str) -> bool:
    """Whether a value of `kind` fits `target` (``any`` always fits, in both roles)."""
    if kind == "any" or target.kind == "any":
        return True
    return kind in _ACCEPTS.get(target.kind, frozenset({kind}))


def fix_hint(kind: str, target: CanonicalField) -> str:
    """How to turn a `kind` into what `target` takes."""
    hints = {
        ("text", "datetime"): "add `transform: [date]` (or `{date: '%d.%m.%Y %H:%M'}` for another format)",
        ("text", "int"): "add `transform: [number]`",
        ("guid", "int"): "add `ref: <model>` to resolve the key through the bindings",
        ("list", "text"): "add `transform: [{join: ', '}]`",
        ("list", "enum"): "map one row field with `children:` instead",
        ("object", "text"): "add `transform: [{concat: ' '}]` or `{template: ...}`",
        ("datetime", "text"): "map it to a date field instead",
    }
    if kind == "bool" and target.kind in ("text", "enum"):
        example = target.choices[0] if target.choices else "..."
        return f"add a value map, e.g. `map: {{true: {example}, false: ...}}`"
    found = hints.get((kind, target.kind))
    return found or f"add a transform or a value map that makes {describe_kind(target.kind)}"
