"""Three-way merge of one record: base (what both sides last agreed), local, remote.

Pure: no store, no clock. The importer calls it with canonical values; it says which
remote values to take, which local values to send back, and which fields conflict.

Per field, by ownership (mapping files):

* ``remote`` — the remote value is taken;
* ``local`` — crm-bridge decides it: the remote value is never taken, and when the CRM
  holds another value (a user changed it) the local value is sent again, an empty one
  included (it clears the CRM's);
* ``newest`` — a change on one side only is taken from that side; changes on both sides
  that disagree are a conflict, settled by the model's policy: ``remote_wins``,
  ``local_wins``, ``newest`` (the later of the local change instant and the instant the
  remote change was observed — 1C keeps no change time), or ``manual`` (the conflict
  queue; the local value stays and nothing is sent until a person decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_bridge.config import ConflictPolicy as Policy

__all__ = ["Conflict", "Merge", "Policy", "merge", "merge_rows", "same", "sent_back"]

_MISSING = object()


def same(a: Any, b: Any) -> bool:
    """Equality as the remote sees it: instants to the second (1C keeps no fractions); rows
    of a tabular section `a` (what would be sent) compared on the fields they carry, row by
    row — the remote's rows hold more (1C: ``LineNumber``, the owner's ``Ref_Key``); an
    empty string and no value alike (a 1C string attribute has no NULL: "" is its empty, and
    a None sent is written as "" — counted as different, every new request's bridge-owned
    ``sla_state`` was queued to be sent back as the same empty, 13% of an import's storing)."""
    if (a is None and b == "") or (a == "" and b is None):
        return True
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(microsecond=0) == b.replace(microsecond=0)
    if isinstance(a, list) and isinstance(b, list) and a and all(isinstance(r, Mapping) for r in a):
        return len(a) == len(b) and all(isinstance(y, Mapping) and all(k in y and same(v, y[k]) for k, v in x.items())
                                        for x, y in zip(a, b, strict=True))
    return bool(a == b)


def merge_rows(base: list[Any], local: list[Any], remote: list[Any]) -> list[Any]:
    """Three-way merge of a child list (co-executors) by its items: an item either side
    added is in, an item either side removed is out. The local order is kept; what only
    the remote added follows in the remote's order. Pure, and what two people editing one
    section expect: routing adding a co-executor while a 1C user adds another keeps both.
    """
    removed = [x for x in base if x not in remote or x not in local]
    merged = [x for x in local if x not in removed]
    merged += [x for x in remote if x not in merged and x not in base]
    return merged


@dataclass(frozen=True, slots=True)
class Conflict:
    field: str
    base: Any
    local: Any
    remote: Any


@dataclass
class Merge:
    take: dict[str, Any] = field(default_factory=dict)  # remote values to write locally
    send: dict[str, Any] = field(default_factory=dict)  # local values to write remotely
    conflicts: list[Conflict] = field(default_factory=list)  # for the queue (policy manual)
    overridden: list[Conflict] = field(default_factory=list)  # settled by the policy, for the log


def merge(
    remote: Mapping[str, Any],
    local: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    owners: Mapping[str, str],
    policy: Policy,
    *,
    local_changed_at: datetime | None = None,
    remote_seen_at: datetime | None = None,
) -> Merge:
    """Merge the fields in `remote` (canonical values read now) into `local`.

    With no `base` (first import, or a binding from before merges existed) the remote
    side is taken for every field it owns or shares.
    """
    out = Merge()
    for name, r in remote.items():
        owner = owners.get(name, "remote")
        l_value = local.get(name, _MISSING)
        if owner == "remote" or l_value is _MISSING:
            if l_value is _MISSING or not same(l_value, r):
                out.take[name] = r
            continue
        b = base.get(name, _MISSING) if base is not None else _MISSING
        if owner == "local":
            # Empty is a value crm-bridge decides too: a due date withdrawn while the
            # request waits for the customer must clear 1C's, not leave it there for good.
            if not same(l_value, r):
                out.send[name] = l_value
            continue
        # newest-owned: both ways
        if same(l_value, r):
            continue
        if b is _MISSING or same(b, l_value):
            out.take[name] = r  # only the remote changed (or nothing to compare with)
        elif same(b, r):
            out.send[name] = l_value  # only the local side changed
        elif isinstance(b, list) and isinstance(l_value, list) and isinstance(r, list):
            # a child list changed on both sides: merged by item, no conflict
            both = merge_rows(b, l_value, r)
            if not same(both, l_value):
                out.take[name] = both
            if not same(both, r):
                out.send[name] = both
        else:
            conflict = Conflict(name, None if b is _MISSING else b, l_value, r)
            winner = _settle(policy, local_changed_at, remote_seen_at)
            if winner == "manual":
                out.conflicts.append(conflict)
            elif winner == "remote":
                out.take[name] = r
                out.overridden.append(conflict)
            else:
                out.send[name] = l_value
                out.overridden.append(conflict)
    return out


def sent_back(remote: Mapping[str, Any], local: Mapping[str, Any]) -> dict[str, Any]:
    """The local values to send of fields crm-bridge owns that the remote holds otherwise
    (``same``): ``merge(remote, {k: local.get(k) for k in remote}, None, owners, policy).send``
    where `owners` says ``local`` for every field of `remote` (a field `local` lacks is
    empty there). A new
    record's owned fields are merged at every record of a first import; the whole merge
    (its result object, an owner looked up per field) cost 3 % of the storing for this dict.
    """
    return {name: local.get(name) for name, r in remote.items() if not same(local.get(name), r)}


def _settle(policy: Policy, local_at: datetime | None, remote_at: datetime | None) -> str:
    if policy == "remote_wins":
        return "remote"
    if policy == "local_wins":
        return "local"
    if policy == "newest":
        if local_at is not None and remote_at is not None and local_at > remote_at:
            return "local"
        return "remote"
    return "manual"
