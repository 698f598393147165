"""What crm-bridge says when it restores a field it owns over the CRM's value.

A field with ``owner: local`` (the SLA's due dates and state, …) is decided here; a CRM
user's edit of it is overwritten by the current decision (``sync.merge``). Overwriting a
person's value silently is how "the bridge keeps undoing my change" becomes a mystery, so
every restoration is said once, when the merge decides it: the CRM's number, the field,
the value the CRM held and ours (event ``sync.merge.restored``, at warning level).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sync.tables import BindingRow

__all__ = ["say_restored", "shown"]

log = logging.getLogger("sync.importer")


def shown(value: Any) -> str:
    """A field's value as a person reads it in a log line: instants in ISO form, empty as «empty»."""
    if value is None or value == "":
        return "«empty»"
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def say_restored(binding: BindingRow, number: str | None, seen: Mapping[str, Any], send: Mapping[str, Any],
                 owners: Mapping[str, str]) -> list[str]:
    """Log each field crm-bridge owns that the merge sends back over another value the CRM
    holds (`seen`); returns their names. `number`: the record's number in the CRM."""
    restored = sorted(k for k in send if owners.get(k) == "local")
    who = number or binding.remote_id
    for name in restored:
        theirs, ours = shown(seen.get(name)), shown(send[name])
        log.warning("%s %s: %s in %s held %s, not crm-bridge's %s; crm-bridge's value is written back (the field is "
                    "owner: local in the mapping)", binding.model, who, name, binding.backend, theirs, ours,
                    extra={"event": "sync.merge.restored", "backend": binding.backend, "model": binding.model,
                           "number": str(who), "field": name, "remote": theirs, "local": ours})
    return restored
