"""Stored rows → the JSON objects 1C sends.

The shaping rules are 1C's, not generic OData's (INTERFACE.md §2): Int64 as JSON
*strings*, naive dates, empty-reference and empty-date sentinels instead of null,
tabular-section rows repeating the owner's ``Ref_Key``, and
``Foo@navigationLinkUrl`` appended after the properties only for non-empty refs.
The ``nometadata`` variant drops the links (and the caller drops
``odata.metadata``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .options import Selection
from .schema import EntitySet, EntityType, Schema
from .store import EMPTY_REF, Store

__all__ = ["Renderer", "entity_path"]


def entity_path(entity_set: EntitySet, row: Sequence[Any]) -> str:
    """``Catalog_X(guid'…')`` or, for a tabular-section set, ``…(Ref_Key=guid'…',LineNumber=1)``."""
    index = entity_set.type.index
    if entity_set.owner is not None:
        return (f"{entity_set.name}(Ref_Key=guid'{row[index['Ref_Key']]}',"
                f"LineNumber={row[index['LineNumber']]})")
    return f"{entity_set.name}(guid'{row[index['Ref_Key']]}')"


class Renderer:
    """Shapes rows of one emulated base; holds no state besides the schema and store."""

    def __init__(self, schema: Schema, store: Store) -> None:
        self.schema, self.store = schema, store
        self._full = Selection()
        #: unpublished sets: references into them get no navigation link
        self.hidden: set[str] = set()

    def entity(
        self,
        entity_set: EntitySet,
        row: Sequence[Any],
        *,
        links: bool = True,
        selection: Selection | None = None,
    ) -> dict[str, Any]:
        """One object as a JSON-ready dict (without ``odata.metadata``)."""
        return self._shape(entity_set, entity_set.type, row, selection or self._full, links=links)

    def _shape(
        self,
        entity_set: EntitySet,
        etype: EntityType,
        row: Sequence[Any],
        selection: Selection,
        *,
        links: bool,
    ) -> dict[str, Any]:
        names = selection.names
        result: dict[str, Any] = {}
        for position, name in enumerate(etype.columns):
            if names is not None and name not in names:
                continue
            value = row[position]
            section = etype.sections.get(name)
            if section is not None:
                owner = row[etype.index["Ref_Key"]] if "Ref_Key" in etype.index else None
                result[name] = [_section_row(section.row, line, owner) for line in value]
            elif value is not None and etype.properties[name].is_integer:
                result[name] = str(value)
            else:
                result[name] = value
        path: str | None = None
        for nav_name, nav in etype.navigations.items():
            wanted = names is None or nav_name in names or nav.key in names
            key = row[etype.index[nav.key]]
            if not wanted or not key or key == EMPTY_REF or nav.target in self.hidden:
                continue
            if links:
                path = path or entity_path(entity_set, row)
                result[f"{nav_name}@navigationLinkUrl"] = f"{path}/{nav_name}"
            sub = selection.expand.get(nav_name)
            if sub is not None:
                target = self.schema.sets[nav.target]
                target_row = self.store.lookup(nav.target, key)
                if target_row is not None:
                    result[nav_name] = self._shape(target, target.type, target_row, sub, links=links)
        return result


def _section_row(row_type: EntityType, line: Sequence[Any], owner: str | None) -> dict[str, Any]:
    shaped: dict[str, Any] = {} if owner is None else {"Ref_Key": owner}
    for position, name in enumerate(row_type.columns):
        value = line[position]
        shaped[name] = str(value) if row_type.properties[name].is_integer else value
    return shaped
