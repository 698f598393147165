"""Which rows of a 1C entity set are records of the mapped model.

Two kinds of row are not: folders of a hierarchical catalog (``IsFolder`` true: groups
that sit in the same set as the items, such as a partner folder «Ключевые клиенты»), left
out unless the mapping says ``folders: include``; and rows the mapping's ``exclude``
matches (1C's service user, ``Служебный`` true).

Folders are asked of 1C as ``$filter`` (``IsFolder eq false``) on page reads and version
scans, so they are never sent, fetched or listed; 1C never turns an item into a folder or
back, so nothing bound can drop out that way. They are also dropped here from reads by
key and exchange-plan packages, where no ``$filter`` applies. ``exclude`` is not asked of
1C: a user marked a service user later would vanish from the version listing, and only
the guarded reconciliation would notice. The sync engine applies it to every record it
reads instead, and a version scan lists a matching row as deleted: never fetched while
unbound, fetched and tombstoned once when it was bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.onec.metadata import EntityType
from mapping.spec import MappingSpec

__all__ = ["FOLDER", "is_folder", "server_filter", "skips_folders"]

#: the platform's own property of hierarchical catalogs (like Ref_Key, not configurable)
FOLDER = "IsFolder"


def skips_folders(spec: MappingSpec, entity: EntityType | None) -> bool:
    """Whether reads of `spec` leave folders out: a hierarchical catalog, folders not included."""
    return spec.folders == "skip" and entity is not None and FOLDER in entity.properties


def is_folder(values: Mapping[str, Any]) -> bool:
    """A raw row (JSON boolean) or an exchange-plan entry (element text) that is a folder."""
    flag = values.get(FOLDER)
    return flag is True or flag in ("true", "1")  # Atom writes xsd:boolean text: true or 1


def server_filter(spec: MappingSpec, entity: EntityType | None) -> str | None:
    """The ``$filter`` that leaves folders out, or None (nothing to ask of 1C)."""
    return f"{FOLDER} eq false" if skips_folders(spec, entity) else None
