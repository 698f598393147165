"""The emulator's Atom entries as a real 1C package writes them (``real_1c_atom``) and its
RFC 6721 tombstones, rendered without a socket."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from adapters.onec.emulator import atom
from adapters.onec.emulator.schema import load_schema

BASE = "http://1c/crm/odata/standard.odata/"
KEY = "9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01"
_D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
_M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


def properties(*, scalar_types: bool) -> dict[str, ET.Element]:
    etype = load_schema(None).sets["Document_Интерес"].type
    values = {"Ref_Key": KEY, "DeletionMark": False, "Posted": True, "Date": "2026-11-20T11:00:00", "Тема": "Т",
              "Основание": None, "Соисполнители": [{"LineNumber": "1", "Пользователь_Key": KEY}]}
    entry = atom.entry_xml(BASE, f"Document_Интерес(guid'{KEY}')", "Document_Интерес", etype, values, "2026-11-20T12:00:00",
                           scalar_types=scalar_types)
    body = atom.feed(BASE, "SelectChanges", [entry], "2026-11-20T12:00:00")
    root = ET.fromstring(body)
    props = root.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}content/" + _M + "properties")
    assert props is not None
    return {child.tag.removeprefix(_D): child for child in props}


def test_a_real_package_has_no_m_type_on_scalars_but_keeps_m_null_and_section_types() -> None:
    props = properties(scalar_types=False)
    assert [(props[n].text, props[n].get(f"{_M}type")) for n in ("DeletionMark", "Posted", "Date", "Ref_Key")] == [
        ("false", None), ("true", None), ("2026-11-20T11:00:00", None), (KEY, None)]
    assert props["Основание"].get(f"{_M}null") == "true"
    assert props["Соисполнители"].get(f"{_M}type") == "Collection(StandardODATA.Document_Интерес_Соисполнители_RowType)"
    [row] = props["Соисполнители"]
    assert [(c.tag.removeprefix(_D), c.get(f"{_M}type")) for c in row] == [("LineNumber", None), ("Пользователь_Key", None)]


def test_typed_entries_carry_m_type_on_every_non_string_scalar() -> None:
    props = properties(scalar_types=True)
    assert [props[n].get(f"{_M}type") for n in ("DeletionMark", "Date", "Ref_Key", "Тема")] == [
        "Edm.Boolean", "Edm.DateTime", "Edm.Guid", None]


def test_a_tombstone_names_the_deleted_objects_url_and_when() -> None:
    body = atom.feed(BASE, "SelectChanges", [atom.deleted_entry(BASE, f"Catalog_Партнеры(guid'{KEY}')",
                                                                "2026-11-20T12:00:00+03:00")], "2026-11-20T12:00:00")
    [tomb] = ET.fromstring(body).findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert tomb.get("ref") == f"{BASE}Catalog_Партнеры(guid'{KEY}')"
    assert tomb.get("when") == "2026-11-20T12:00:00+03:00"
