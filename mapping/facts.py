"""What a mapping check knows and reports: the remote facts it checks against, and one
problem as ``file:line:column: field: message``."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_bridge.yamlfile import Position
from mapping.kinds import describe_kind

__all__ = ["REF_TARGETS", "Problem", "RemoteFacts", "close_names", "edm_word", "entity_sets", "known_zone"]

# Canonical reference fields and the model they point at.
REF_TARGETS = {"customer_id": "customer", "contact_id": "contact", "assignee_id": "agent", "team_id": "team"}


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Problem:
    """One mistake: where, which field, what is wrong and how to fix it."""

    where: Position
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


@dataclass(frozen=True)
class RemoteFacts:
    """What the check knows about the remote side (any part may be missing)."""

    entities: Mapping[str, Mapping[str, str]] | None = None  # entity set -> field -> Edm type
    references: Mapping[str, Mapping[str, str]] | None = None  # entity set -> reference field -> the set it points to
    sample: Sequence[Mapping[str, Any]] | None = None  # raw values of a few remote records
    lengths: Mapping[str, Mapping[str, int]] | None = None  # entity set -> string field -> MaxLength, where published
    # canonical model -> the fields the installed addons decide (sla: due dates, state…);
    # None: unknown (a file checked alone), so ownership is not judged
    decided: Mapping[str, frozenset[str]] | None = None
    origin: str = "the remote metadata"


def close_names(name: str, known: Sequence[str], limit: int = 5) -> str:
    """The names of `known` closest to `name` (or the first ones), for "what is valid"."""
    shown = difflib.get_close_matches(name, list(known), n=limit, cutoff=0.5) or sorted(known)[:limit]
    more = f" ({len(known)} in all)" if len(known) > len(shown) else ""
    return ", ".join(shown) + more


def entity_sets(entities: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The entity sets of a schema, without the row types of its tabular sections."""
    rows = {t.removeprefix("Collection(").removesuffix(")").rsplit(".", 1)[-1]
            for fields in entities.values() for t in fields.values() if t.startswith("Collection(")}
    return [name for name in entities if name not in rows]


def edm_word(edm: str) -> str:
    return edm if edm.startswith(("Edm.", "Collection(")) else describe_kind(edm)
