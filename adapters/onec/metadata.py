"""Read 1C's ``$metadata`` (EDMX 1.0, OData v3): entity sets, their fields and types.

The adapter uses the types to turn 1C's wire values into Python ones (naive dates in the
backend's time zone, empty-reference and empty-date sentinels to ``None``, Int64 strings
to ints) and back. ``$metadata`` is parsed with ``xml.etree``; a document with a DTD is
refused (no entity expansion, no external entities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from adapters.onec.dtd import declares_dtd
from adapters.onec.errors import OneCNotPublished, OneCUnavailable

__all__ = ["EntityType", "Metadata", "Property", "parse_metadata"]

_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    type: str  # "Edm.String", "Edm.Guid", "Collection(StandardODATA.X_RowType)", ...
    nullable: bool = True
    max_length: int | None = None  # MaxLength, when the publication gives it: 1C cuts longer strings to it

    @property
    def is_collection(self) -> bool:
        return self.type.startswith("Collection(")


@dataclass(frozen=True)
class EntityType:
    name: str
    keys: tuple[str, ...]
    properties: dict[str, Property]
    navigation: dict[str, str] = field(default_factory=dict)  # nav name -> relationship


@dataclass(frozen=True)
class Metadata:
    entity_sets: dict[str, str]  # set name -> entity type name (without namespace)
    types: dict[str, EntityType]
    complex_types: dict[str, dict[str, Property]]
    enums: dict[str, tuple[str, ...]]
    associations: dict[str, str] = field(default_factory=dict)  # relationship -> target entity type
    # entity type -> the functions bound to it (a postable document: Post, Unpost)
    actions: dict[str, frozenset[str]] = field(default_factory=dict)

    def references(self, entity_set: str) -> dict[str, str]:
        """Reference fields of a set and the entity type each points to: {"Партнер_Key": "Catalog_Партнеры"}.

        Read from the navigation properties (``Партнер`` → relationship → the association's
        ``End`` role), so only references whose target is published are known.
        """
        entity = self.entity(entity_set)
        if entity is None:
            return {}
        found: dict[str, str] = {}
        for nav, relationship in entity.navigation.items():
            target = self.associations.get(relationship.split(".", 1)[-1])
            if target is None:
                continue
            key = f"{nav}_Key" if f"{nav}_Key" in entity.properties else nav
            found[key] = target
        return found

    def entity(self, entity_set: str) -> EntityType | None:
        name = self.entity_sets.get(entity_set)
        return self.types.get(name) if name else None

    def row_type(self, prop: Property) -> dict[str, Property]:
        """Fields of a tabular section's row type."""
        inner = prop.type.removeprefix("Collection(").removesuffix(")").split(".", 1)[-1]
        return self.complex_types.get(inner, {})


def _props(node: ET.Element) -> dict[str, Property]:
    return {
        p.get("Name", ""): Property(p.get("Name", ""), p.get("Type", "Edm.String"), p.get("Nullable", "true") == "true",
                                    _length(p.get("MaxLength")))
        for p in node.findall(f"{_EDM}Property")
    }


def _length(text: str | None) -> int | None:
    """``MaxLength="25"`` → 25; absent, ``Max`` or 0 (an unlimited 1C string) → None."""
    return int(text) if text is not None and text.isdigit() and int(text) > 0 else None


def parse_metadata(xml: bytes, *, backend: str = "1C") -> Metadata:
    """Parse an EDMX document.

    Raises:
        OneCUnavailable: the body is not EDMX (a proxy's HTML page, a truncated answer).
    """
    if declares_dtd(xml):
        raise OneCUnavailable(f"{backend}: $metadata carries a DTD; refused (entity expansion is not allowed)")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise OneCUnavailable(f"{backend}: $metadata is not valid XML ({exc}); is the URL the OData base?") from exc
    types: dict[str, EntityType] = {}
    complex_types: dict[str, dict[str, Property]] = {}
    enums: dict[str, tuple[str, ...]] = {}
    sets: dict[str, str] = {}
    associations: dict[str, str] = {}
    actions: dict[str, frozenset[str]] = {}
    for schema in root.iter(f"{_EDM}Schema"):
        for assoc in schema.findall(f"{_EDM}Association"):
            for end in assoc.findall(f"{_EDM}End"):
                if end.get("Role") == "End":
                    associations[assoc.get("Name", "")] = end.get("Type", "").split(".", 1)[-1]
        for et in schema.findall(f"{_EDM}EntityType"):
            keys = tuple(k.get("Name", "") for k in et.findall(f"{_EDM}Key/{_EDM}PropertyRef"))
            nav = {n.get("Name", ""): n.get("Relationship", "") for n in et.findall(f"{_EDM}NavigationProperty")}
            types[et.get("Name", "")] = EntityType(et.get("Name", ""), keys, _props(et), nav)
        for ct in schema.findall(f"{_EDM}ComplexType"):
            complex_types[ct.get("Name", "")] = _props(ct)
        for en in schema.findall(f"{_EDM}EnumType"):
            enums[en.get("Name", "")] = tuple(m.get("Name", "") for m in en.findall(f"{_EDM}Member"))
        for container in schema.findall(f"{_EDM}EntityContainer"):
            for es in container.findall(f"{_EDM}EntitySet"):
                sets[es.get("Name", "")] = es.get("EntityType", "").split(".", 1)[-1]
            for function in container.findall(f"{_EDM}FunctionImport"):
                if function.get("IsBindable") == "true":  # 1C binds Post/Unpost to each postable document type
                    for param in function.findall(f"{_EDM}Parameter[@Name='bindingParameter']"):
                        bound = param.get("Type", "").split(".", 1)[-1]
                        actions[bound] = actions.get(bound, frozenset()) | {function.get("Name", "")}
    if not sets:
        raise OneCNotPublished(
            f"{backend}: $metadata lists no entity sets: the standard OData interface content is empty; add the mapped "
            "objects to it (Администрирование → Настройка стандартного интерфейса OData, or "
            "УстановитьСоставСтандартногоИнтерфейсаOData() in 1C)")
    return Metadata(sets, types, complex_types, enums, associations, actions)
