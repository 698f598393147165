"""Keyed lists as plain fields (``connector.FieldList``): read flat, written back as lists.

amoCRM keeps every custom field in one list::

    "custom_fields_values": [{"field_id": 1278898021, "values": [{"value": "2026-12-09"}]}]

Flattened, the record holds ``cf_1278898021: "2026-12-09"``, so a mapping names it like
any field (``resolution_due: {from: cf_1278898021, owner: local}``); a write of
``cf_1278898021`` is sent as ``custom_fields_values: [{"field_id": 1278898021, "values":
[{"value": ...}]}]`` — amoCRM replaces the values of the fields listed and keeps the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.generic_rest.connector import FieldList
from adapters.generic_rest.select import MISSING, parse_path, select

__all__ = ["flatten", "unflatten"]


def _pattern(spec: FieldList) -> re.Pattern[str]:
    before, _, after = spec.name.partition("{key}")
    return re.compile(f"^{re.escape(before)}(.+){re.escape(after)}$")


def flatten(record: Mapping[str, Any], lists: Sequence[FieldList], extract: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`record` with each listed entry as a field of its own (the list itself kept too), and
    the `extract` fields (name → selector) read from nested places."""
    flat = dict(record)
    for name, path in (extract or {}).items():
        value = select(record, parse_path(path))
        flat[name] = None if value is MISSING else value
    for spec in lists:
        entries = select(record, parse_path(spec.path))
        if not isinstance(entries, list):
            continue
        where = parse_path(spec.value)
        for entry in entries:
            if isinstance(entry, dict) and entry.get(spec.key) is not None:
                value = select(entry, where)
                flat[spec.name.replace("{key}", str(entry[spec.key]))] = None if value is MISSING else value
    return flat


def _placed(path: tuple[str | int, ...], value: Any) -> Any:
    """`value` at `path` in a fresh structure: ``values.0.value`` → ``{"values": [{"value": v}]}``."""
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {str(step): value}
    return value


def unflatten(values: Mapping[str, Any], lists: Sequence[FieldList]) -> dict[str, Any]:
    """A write's fields with the flattened ones gathered back into their lists."""
    out: dict[str, Any] = {}
    gathered: dict[int, list[Any]] = {}
    patterns = [(i, _pattern(spec)) for i, spec in enumerate(lists)]
    for name, value in values.items():
        hit = next(((i, m.group(1)) for i, p in patterns if (m := p.match(name))), None)
        if hit is None:
            out[name] = value
            continue
        index, key = hit
        spec = lists[index]
        entry = {spec.key: int(key) if key.isdigit() else key}
        entry.update(_placed(parse_path(spec.value), value))
        gathered.setdefault(index, []).append(entry)
    for index, entries in gathered.items():
        path = parse_path(lists[index].path)
        if len(path) != 1:  # a nested list path: placed whole under its first step
            out.update(_placed(path, entries))
        else:
            out[str(path[0])] = entries
    return out
