"""The emulated base's schema, read from an EDMX `$metadata` document.

Nothing here is written per entity: which entity sets exist, their properties and
Edm types, references (``Foo_Key`` + navigation property ``Foo``), composite fields
(``Foo`` + ``Foo_Type``), tabular sections and bindable Post/Unpost all come from
parsing the EDMX. An entity set missing from the ``EntityContainer`` is therefore
simply not published, exactly like an object left out of 1C's OData content.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = [
    "EntitySet",
    "EntityType",
    "Navigation",
    "Property",
    "Schema",
    "Section",
    "default_edmx",
    "load_schema",
]

_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"
_NAMESPACE = "StandardODATA"
_COLLECTION = re.compile(r"^Collection\((?:StandardODATA\.)?(?P<row>.+)\)$")

#: The Edm type names the emulator understands. Anything else is served as a string.
EDM_TYPES = frozenset(
    {"Edm.Guid", "Edm.String", "Edm.Boolean", "Edm.DateTime", "Edm.Int64", "Edm.Int32",
     "Edm.Int16", "Edm.Double", "Edm.Decimal", "Edm.Single", "Edm.Byte", "Edm.Binary"}
)


@dataclass(frozen=True)
class Property:
    """One primitive property: ``name`` as published, ``edm`` its Edm type name.

    ``max_length``: the string attribute's length in the configuration (EDMX
    ``MaxLength``), to which 1C cuts what is written; None for an unlimited string.
    """

    name: str
    edm: str
    max_length: int | None = None

    @property
    def is_integer(self) -> bool:
        """Int64 and friends: stored as int, serialized as a JSON *string* like 1C."""
        return self.edm in ("Edm.Int64", "Edm.Int32", "Edm.Int16", "Edm.Byte")

    @property
    def is_number(self) -> bool:
        return self.is_integer or self.edm in ("Edm.Double", "Edm.Decimal", "Edm.Single")


@dataclass(frozen=True)
class Navigation:
    """A reference: property ``key`` (``Foo_Key``) points into entity set ``target``."""

    name: str
    key: str
    target: str


@dataclass(frozen=True)
class Section:
    """A tabular section embedded as ``Collection(<row type>)`` in its owner."""

    name: str
    row: EntityType
    row_set: str | None  # ``<Owner>_<Section>`` when that set is published


@dataclass
class EntityType:
    """Columns of one entity type, in published order (the JSON property order)."""

    name: str
    keys: tuple[str, ...]
    properties: dict[str, Property] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    navigations: dict[str, Navigation] = field(default_factory=dict)
    #: every stored column (properties and sections) in EDMX order
    columns: tuple[str, ...] = ()
    index: dict[str, int] = field(default_factory=dict)

    def finish(self) -> None:
        """Freeze the column order once all members are known."""
        self.columns = tuple(self.index)
        self.index = {name: i for i, name in enumerate(self.columns)}

    def composite_type_column(self, name: str) -> str | None:
        """``Foo_Type`` when ``Foo`` is a composite-type field, else None."""
        partner = f"{name}_Type"
        return partner if partner in self.properties and name in self.properties else None

    def navigation_by_key(self, key: str) -> Navigation | None:
        for nav in self.navigations.values():
            if nav.key == key:
                return nav
        return None


@dataclass(frozen=True)
class EntitySet:
    """A published entity set. ``owner``/``section`` are set for tabular-section sets."""

    name: str
    type: EntityType
    kind: str  # Catalog, Document, ExchangePlan, ... (text before the first "_")
    postable: bool = False
    owner: str | None = None
    section: str | None = None

    @property
    def is_object(self) -> bool:
        """Reference objects: one ``Ref_Key``, DataVersion, deletion mark."""
        return self.owner is None and self.type.keys == ("Ref_Key",)


@dataclass
class Schema:
    """Everything the emulator knows about the published content."""

    sets: dict[str, EntitySet]
    enums: dict[str, tuple[str, ...]]
    edmx_text: str

    def set_for_type(self, type_name: str) -> EntitySet | None:
        for entity_set in self.sets.values():
            if entity_set.type.name == type_name and entity_set.owner is None:
                return entity_set
        return None


def default_edmx() -> str:
    """The packaged `$metadata` (the shared fixture extended for the demo)."""
    return resources.files(__package__).joinpath("data/metadata.edmx").read_text("utf-8")


#: Where a base keeps the customer's rating (csat addon's ``csat_score``/``csat_comment``):
#: neither the shared ``$metadata`` nor a typical 1C:CRM has such attributes, so an
#: integrator adds them (or maps ones the base has); ``Emulator(csat_fields=True)``
#: (``--csat-fields``) adds these two to ``Document_Интерес``.
CSAT_PROPERTIES = ('<Property Name="ОценкаКлиента" Type="Edm.Int16" Nullable="true"/>'
                   '<Property Name="КомментарийОценки" Type="Edm.String" Nullable="true"/>')
_CSAT_AFTER = '<Property Name="НарушениеSLA" Type="Edm.Boolean" Nullable="true"/>'


def with_csat_fields(edmx: str) -> str:
    """`edmx` with ``CSAT_PROPERTIES`` on ``Document_Интерес`` (after ``НарушениеSLA``).

    Raises:
        ValueError: the document has no ``НарушениеSLA`` property to put them after.
    """
    if _CSAT_AFTER not in edmx:
        raise ValueError("no Document_Интерес.НарушениеSLA in this $metadata: add the rating attributes by hand")
    return edmx.replace(_CSAT_AFTER, _CSAT_AFTER + CSAT_PROPERTIES, 1)


def load_schema(edmx: str | Path | None = None) -> Schema:
    """Parse an EDMX document (text, a path, or None for the packaged one).

    Raises:
        ValueError: the document declares a DOCTYPE (refused: entity expansion) or is
            not EDMX with a ``StandardODATA`` schema.
    """
    if edmx is None:
        text = default_edmx()
    elif isinstance(edmx, Path):
        text = edmx.read_text("utf-8")
    else:
        text = edmx
    if "<!DOCTYPE" in text.upper():
        raise ValueError("EDMX with a DOCTYPE is refused; ship plain XML")
    root = ET.fromstring(text)
    schema_el = next((el for el in root.iter(f"{_EDM}Schema")), None)
    if schema_el is None or schema_el.get("Namespace") != _NAMESPACE:
        raise ValueError("not a 1C $metadata document: no Schema Namespace='StandardODATA'")
    complex_types = {el.get("Name", ""): el for el in schema_el.findall(f"{_EDM}ComplexType")}
    associations = _associations(schema_el)
    entity_types = {
        el.get("Name", ""): _entity_type(el, complex_types, associations)
        for el in schema_el.findall(f"{_EDM}EntityType")
    }
    container = schema_el.find(f"{_EDM}EntityContainer")
    set_types: dict[str, str] = {}
    postable: set[str] = set()
    if container is not None:
        for el in container.findall(f"{_EDM}EntitySet"):
            set_types[el.get("Name", "")] = _strip(el.get("EntityType", ""))
        for fn in container.findall(f"{_EDM}FunctionImport"):
            if fn.get("Name") == "Post":
                for param in fn.findall(f"{_EDM}Parameter"):
                    if param.get("Name") == "bindingParameter":
                        postable.add(_strip(param.get("Type", "")))
    type_to_set = {type_name: set_name for set_name, type_name in set_types.items()}
    sets: dict[str, EntitySet] = {}
    for set_name, type_name in set_types.items():
        etype = entity_types.get(type_name)
        if etype is None:
            continue
        _resolve_navigations(etype, type_to_set)
        for section in list(etype.sections.values()):
            _resolve_navigations(section.row, type_to_set)
            row_set = f"{set_name}_{section.name}"
            etype.sections[section.name] = Section(
                section.name, section.row, row_set if row_set in set_types else None
            )
        sets[set_name] = EntitySet(
            name=set_name, type=etype, kind=set_name.split("_", 1)[0],
            postable=type_name in postable,
        )
    for owner in list(sets.values()):
        for section in owner.type.sections.values():
            if section.row_set and section.row_set in sets:
                rows = sets[section.row_set]
                sets[section.row_set] = EntitySet(
                    name=rows.name, type=rows.type, kind=rows.kind,
                    owner=owner.name, section=section.name,
                )
    enums = {
        el.get("Name", ""): tuple(m.get("Name", "") for m in el.findall(f"{_EDM}Member"))
        for el in schema_el.findall(f"{_EDM}EnumType")
    }
    return Schema(sets=sets, enums=enums, edmx_text=text)


def _strip(qualified: str) -> str:
    return qualified.removeprefix(f"{_NAMESPACE}.")


def _associations(schema_el: ET.Element) -> dict[str, str]:
    """Association name → type name of its ``End`` role (the referenced type)."""
    result: dict[str, str] = {}
    for assoc in schema_el.findall(f"{_EDM}Association"):
        for end in assoc.findall(f"{_EDM}End"):
            if end.get("Role") == "End":
                result[assoc.get("Name", "")] = _strip(end.get("Type", ""))
    return result


def _entity_type(
    el: ET.Element, complex_types: dict[str, ET.Element], associations: dict[str, str]
) -> EntityType:
    keys = tuple(ref.get("Name", "") for ref in el.iterfind(f"{_EDM}Key/{_EDM}PropertyRef"))
    etype = EntityType(name=el.get("Name", ""), keys=keys)
    for prop in el.findall(f"{_EDM}Property"):
        _add_member(etype, prop, complex_types)
    etype.finish()
    for nav in el.findall(f"{_EDM}NavigationProperty"):
        name = nav.get("Name", "")
        target_type = associations.get(_strip(nav.get("Relationship", "")), "")
        key = f"{name}_Key" if f"{name}_Key" in etype.properties else name
        # the target *set* is resolved once the container is read; keep the type for now
        etype.navigations[name] = Navigation(name=name, key=key, target=target_type)
    return etype


def _add_member(etype: EntityType, prop: ET.Element, complex_types: dict[str, ET.Element]) -> None:
    name, edm = prop.get("Name", ""), prop.get("Type", "Edm.String")
    collection = _COLLECTION.match(edm)
    if collection:
        row_el = complex_types.get(collection.group("row"))
        row = EntityType(name=collection.group("row"), keys=("LineNumber",))
        if row_el is not None:
            for row_prop in row_el.findall(f"{_EDM}Property"):
                _add_member(row, row_prop, complex_types)
        row.finish()
        etype.sections[name] = Section(name=name, row=row, row_set=None)
    else:
        length = prop.get("MaxLength", "")
        etype.properties[name] = Property(name=name, edm=edm if edm in EDM_TYPES else "Edm.String",
                                          max_length=int(length) if length.isdigit() and int(length) > 0 else None)
    etype.index[name] = len(etype.index)


def _resolve_navigations(etype: EntityType, type_to_set: dict[str, str]) -> None:
    """Point navigations at published sets; drop those whose target is unpublished."""
    for name, nav in list(etype.navigations.items()):
        # 1C names a set after its type, so resolving twice is harmless
        target_set = type_to_set.get(nav.target)
        if target_set is None or nav.key not in etype.properties:
            del etype.navigations[name]
        else:
            etype.navigations[name] = Navigation(name=name, key=nav.key, target=target_set)


def without_sets(edmx_text: str, hidden: set[str] | frozenset[str]) -> str:
    """The `$metadata` text with ``hidden`` sets unpublished, as 1C would publish it.

    Removes each set's ``EntitySet``, its ``EntityType`` and row ``ComplexType``s, the
    associations that touch it (and the navigation properties using them) and the
    Post/Unpost bindings of its type. Text surgery keeps the original prefixes and
    layout, which a re-serialization through ElementTree would not.
    """
    if not hidden:
        return edmx_text
    text = edmx_text
    removed_associations: list[str] = []
    for name in sorted(hidden):
        quoted = re.escape(name)
        text = re.sub(rf'\s*<EntitySet Name="{quoted}" [^>]*/>', "", text)
        text = re.sub(rf'\s*<EntityType Name="{quoted}">.*?</EntityType>', "", text, flags=re.S)
        text = re.sub(rf'\s*<ComplexType Name="{quoted}_[^"]*_RowType">.*?</ComplexType>', "",
                      text, flags=re.S)
        for match in re.finditer(r'<Association Name="([^"]+)">(.*?)</Association>', text, re.S):
            if f'Type="{_NAMESPACE}.{name}"' in match.group(2):
                removed_associations.append(match.group(1))
        text = re.sub(
            rf'\s*<FunctionImport Name="[^"]+"[^>]*>(?:(?!</FunctionImport>).)*?'
            rf'Type="{_NAMESPACE}\.{quoted}"(?:(?!</FunctionImport>).)*</FunctionImport>',
            "", text, flags=re.S)
    for association in removed_associations:
        quoted = re.escape(association)
        text = re.sub(rf'\s*<Association Name="{quoted}">.*?</Association>', "", text, flags=re.S)
        text = re.sub(rf'\s*<NavigationProperty [^>]*Relationship="{_NAMESPACE}\.{quoted}"[^>]*/>',
                      "", text)
    return text
