"""Written values against the remote field's length (``MaxLength`` in 1C's ``$metadata``).

1C cuts a string longer than its attribute without an error (INTERFACE.md §4): the write
is then parked by the adapter's check of 1C's answer, value after value. What can be
seen before the first write is said by ``mapping check``: a value map whose longest
remote value is longer than the field (every such write is cut: a problem), a free text
written into a bounded field (a longer value would be cut: a warning), a correlation key
that cannot fit (a create retried after a lost answer would not find its record).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from crm_bridge.yamlfile import Path_
from mapping.kinds import CanonicalField
from mapping.spec import FieldSpec, MappingSpec

__all__ = ["WARNING", "is_warning", "length_problems"]

#: how a finding that does not fail ``mapping check`` starts its message
WARNING = "warning: "
#: the longest local id the correlation key is sized for (``crm-bridge:<model>:<id>:<12 hex>``)
_ID_DIGITS = 10


def is_warning(problem: str) -> bool:
    """Whether a ``file:line:column: field: message`` finding is a warning, not a problem."""
    return f": {WARNING}" in problem


def length_problems(spec: MappingSpec, canonical: Mapping[str, CanonicalField] | None,
                    lengths: Mapping[str, int], origin: str) -> Iterator[tuple[Path_, str]]:
    """(path in the file, message) for each written field that can exceed its remote length.

    Args:
        spec: the mapping.
        canonical: the model's canonical fields (None when the model is unknown).
        lengths: remote field → MaxLength of the mapped entity; fields without one are unbounded.
        origin: where the lengths come from, for the message ("backend 'crm'").
    """
    for name, fs in spec.fields.items():
        limit = lengths.get(fs.source or "")
        if fs.owner == "remote" or not fs.source or limit is None:
            continue
        path: Path_ = ("fields", name, "from")
        where = f"{fs.source} holds {limit} characters ({origin}: MaxLength)"
        sent = _sent_values(fs)
        target = canonical.get(name) if canonical is not None else None
        if not sent and target is not None and target.kind == "enum":
            sent = [str(c) for c in target.choices]
        if sent:
            longest = max(sent, key=len)
            if len(longest) > limit:
                too_long = sorted(v for v in sent if len(v) > limit)
                yield path, (f"{where}, but crm-bridge writes {_listed(too_long)} ({len(longest)} characters): 1C would "
                             "cut it without an error and the write would be parked; widen the attribute in the "
                             "configuration, or map to shorter values")
        elif target is None or target.kind == "text":
            yield path, (f"{WARNING}{where}, and {spec.model}.{name} is free text: a longer value would be cut by 1C "
                         "(the write is then parked with what 1C stored); widen the attribute, or map the values "
                         "crm-bridge writes to shorter ones with `map:`")
    if spec.correlation and (limit := lengths.get(spec.correlation)) is not None:
        needed = len(f"crm-bridge:{spec.model}::") + _ID_DIGITS + 12
        if limit < needed:
            yield ("correlation",), (
                f"{spec.correlation} holds {limit} characters ({origin}: MaxLength), but crm-bridge's correlation key "
                f"needs up to {needed}: 1C would cut it and a create retried after a lost answer would not find its "
                "record (a second one would be made); widen the attribute or name a longer field")


def _sent_values(fs: FieldSpec) -> list[str]:
    """The remote values a value map writes: for each canonical value, the `reverse:` entry
    or the first remote value mapping to it."""
    if not fs.map:
        return []
    chosen: dict[str, str] = {}
    for remote, value in fs.map.items():
        chosen.setdefault(str(value), str(remote))
    for value, remote in (fs.reverse or {}).items():
        chosen[str(value)] = str(remote)
    return list(chosen.values())


def _listed(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:3])
    return shown + (f" and {len(values) - 3} more" if len(values) > 3 else "")
