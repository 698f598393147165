"""What 1C stored against what was sent: the check after every PATCH and POST.

1C answers a write with the whole object as stored, and takes some writes without a word
(INTERFACE.md §4, §10.9): a string longer than its attribute is cut to the attribute's
length, a number is rounded to its precision, a string into an Int64 keeps the old value,
an unknown property is ignored. A write is only as good as what 1C kept, so each field
sent is compared with the answer, both read through the same wire → Python typing
(``values.from_wire``): ``2026-01-01T00:00:00`` and the datetime it stands for, or ``5``
and ``5.0``, are one value; ``breac`` for ``breached`` is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.onec.metadata import Metadata, Property
from adapters.onec.values import from_wire

__all__ = ["differences"]


def differences(meta: Metadata, entity_set: str, sent: Mapping[str, Any], answer: Mapping[str, Any],
                tz: ZoneInfo) -> dict[str, str]:
    """Remote field → why 1C's `answer` does not hold what was `sent` there (wire bodies
    both); empty when every field sent was stored as sent."""
    entity = meta.entity(entity_set)
    props = entity.properties if entity else {}
    ours = from_wire(meta, entity_set, dict(sent), tz)
    theirs = from_wire(meta, entity_set, {k: v for k, v in answer.items() if k in sent}, tz)
    found: dict[str, str] = {}
    for name, value in ours.items():
        if name not in theirs:
            found[name] = (f"1C did not store {name} (sent {value!r}): {entity_set} has no such field in this "
                           "publication, and 1C ignores unknown fields; fix the mapping or add the attribute")
        elif not _same(value, theirs[name]):
            found[name] = _explained(name, value, theirs[name], props.get(name))
    return found


def _same(sent: Any, stored: Any) -> bool:
    if isinstance(sent, datetime) and isinstance(stored, datetime):
        return sent.replace(microsecond=0) == stored.replace(microsecond=0)
    if isinstance(sent, list) and isinstance(stored, list):  # a tabular section: the row fields sent, row by row
        return len(sent) == len(stored) and all(
            isinstance(a, Mapping) and isinstance(b, Mapping) and all(k in b and _same(v, b[k]) for k, v in a.items())
            for a, b in zip(sent, stored, strict=True))
    return bool(sent == stored) or _same_guid(sent, stored)


def _same_guid(sent: Any, stored: Any) -> bool:
    """1C writes GUIDs in lower case: the case of a key sent is not a difference."""
    return isinstance(sent, str) and isinstance(stored, str) and len(sent) == 36 and sent.lower() == stored.lower()


def _explained(name: str, sent: Any, stored: Any, prop: Property | None) -> str:
    said = f"1C stored {_shown(stored)} for {name} (sent {_shown(sent)})"
    if isinstance(sent, str) and isinstance(stored, str):
        kept = stored.rstrip(" ")
        if len(stored) < len(sent) and sent.startswith(stored):
            holds = prop.max_length if prop is not None and prop.max_length else len(stored)
            return (f"{said}: the field holds {holds} characters; widen the attribute in the configuration or send "
                    "shorter values (a value map, a transform)")
        if kept == sent and len(stored) > len(sent):
            return f"{said}: a fixed-length string, padded with spaces to {len(stored)}; strip it in the mapping or make the attribute variable-length"
    if isinstance(sent, int | float) and isinstance(stored, int | float) and not isinstance(sent, bool):
        return f"{said}: rounded to the attribute's precision; widen the number's precision in the configuration"
    return f"{said}: 1C took the write without an error but kept another value; check the attribute's type in the configuration"


def _shown(value: Any) -> str:
    return repr(value.isoformat() if isinstance(value, datetime) else value)
