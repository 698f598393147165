"""Wire values typed by ``$metadata`` (``adapters.onec.values``): every EDM type 1C uses,
from a JSON value and from an Atom element's text alike, the empty sentinels, and a
malformed value refused with the field, the value and what is valid."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.onec.metadata import Metadata, parse_metadata
from adapters.onec.values import EMPTY_DATE, EMPTY_REF, BadValue, from_wire, read_value

MOSCOW = ZoneInfo("Europe/Moscow")
SHARED = Path(__file__).resolve().parents[2] / "fixtures" / "onec"
KEY = "9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01"
EDMX = """<?xml version="1.0" encoding="UTF-8"?>
<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">
 <edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" m:DataServiceVersion="3.0">
  <Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">
   <EntityType Name="Catalog_Все">
    <Key><PropertyRef Name="Ref_Key"/></Key>
    <Property Name="Ref_Key" Type="Edm.Guid" Nullable="false"/>
    <Property Name="Флаг" Type="Edm.Boolean"/>
    <Property Name="Байт" Type="Edm.Byte"/>
    <Property Name="Малое" Type="Edm.Int16"/>
    <Property Name="Целое" Type="Edm.Int32"/>
    <Property Name="Длинное" Type="Edm.Int64"/>
    <Property Name="Сумма" Type="Edm.Decimal"/>
    <Property Name="Доля" Type="Edm.Double"/>
    <Property Name="Дата" Type="Edm.DateTime"/>
    <Property Name="Момент" Type="Edm.DateTimeOffset"/>
    <Property Name="Партнер_Key" Type="Edm.Guid"/>
    <Property Name="Текст" Type="Edm.String"/>
    <Property Name="Основание" Type="Edm.String"/>
    <Property Name="Основание_Type" Type="Edm.String"/>
    <Property Name="Строки" Type="Collection(StandardODATA.Catalog_Все_Строки_RowType)"/>
   </EntityType>
   <ComplexType Name="Catalog_Все_Строки_RowType">
    <Property Name="LineNumber" Type="Edm.Int64" Nullable="false"/>
    <Property Name="Флаг" Type="Edm.Boolean"/>
    <Property Name="Дата" Type="Edm.DateTime"/>
   </ComplexType>
   <EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">
    <EntitySet Name="Catalog_Все" EntityType="StandardODATA.Catalog_Все"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>""".encode()


@pytest.fixture(scope="module")
def meta() -> Metadata:
    return parse_metadata(EDMX)


def read(meta: Metadata, field: str, value: Any) -> Any:
    return from_wire(meta, "Catalog_Все", {field: value}, MOSCOW)[field]


@pytest.mark.parametrize(("field", "wire", "expected"), [
    ("Флаг", True, True),
    ("Флаг", False, False),
    ("Флаг", "true", True),
    ("Флаг", "false", False),  # bool("false") is True: the whole point
    ("Флаг", "1", True),
    ("Флаг", "0", False),
    ("Байт", "255", 255),
    ("Малое", "-32768", -32768),
    ("Целое", 42, 42),
    ("Целое", "42", 42),
    ("Длинное", "9223372036854775807", 9223372036854775807),  # Int64 as a JSON string
    ("Длинное", "+7", 7),
    ("Сумма", 1234.56, Decimal("1234.56")),  # the JSON number's text, not its binary expansion
    ("Сумма", "1234.56", Decimal("1234.56")),
    ("Сумма", "-0.5", Decimal("-0.5")),
    ("Сумма", 7, Decimal(7)),
    ("Доля", 0.25, 0.25),
    ("Доля", "0.25", 0.25),
    ("Доля", "1E3", 1000.0),
    ("Доля", "-INF", -math.inf),
    ("Дата", "2024-03-18T10:42:07", datetime(2024, 3, 18, 10, 42, 7, tzinfo=MOSCOW)),
    ("Дата", "2024-03-18T10:42", datetime(2024, 3, 18, 10, 42, tzinfo=MOSCOW)),
    ("Дата", "2024-03-18T10:42:07.1234567", datetime(2024, 3, 18, 10, 42, 7, 123456, tzinfo=MOSCOW)),
    ("Дата", "2024-03-18T07:42:07Z", datetime(2024, 3, 18, 7, 42, 7, tzinfo=UTC)),
    ("Дата", EMPTY_DATE, None),
    ("Дата", "", None),
    ("Момент", "2024-03-18T10:42:07+05:00", datetime(2024, 3, 18, 10, 42, 7, tzinfo=timezone(timedelta(hours=5)))),
    ("Партнер_Key", KEY, KEY),
    ("Партнер_Key", EMPTY_REF, None),
    ("Партнер_Key", "", None),
    ("Текст", "  00042 ", "  00042 "),  # a string stays a string, padding and leading zeros kept
    ("Текст", "", ""),
    ("Текст", EMPTY_REF, EMPTY_REF),  # a plain string that looks like the empty GUID is not a reference
    ("Основание", EMPTY_REF, None),  # a composite field (it has Основание_Type) holding the empty reference
    ("Основание", KEY, KEY),
    ("Флаг", None, None),  # m:null / JSON null
    ("Неизвестное", "true", "true"),  # not in $metadata: left as it came
])
def test_each_edm_type_reads_from_json_and_from_atom_text(meta: Metadata, field: str, wire: Any, expected: Any) -> None:
    value = read(meta, field, wire)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, datetime):
        assert value.tzinfo is not None
        assert value.utcoffset() == expected.utcoffset()


def test_a_naive_date_is_the_backends_wall_time(meta: Metadata) -> None:
    utc = from_wire(meta, "Catalog_Все", {"Дата": "2024-03-18T10:42:07"}, ZoneInfo("UTC"))["Дата"]
    moscow = read(meta, "Дата", "2024-03-18T10:42:07")
    assert moscow.astimezone(UTC) == datetime(2024, 3, 18, 7, 42, 7, tzinfo=UTC)
    assert utc - moscow == timedelta(hours=3)


@pytest.mark.parametrize(("field", "wire", "expected"), [
    ("Флаг", "maybe", "'maybe' is not a boolean, true or false (Edm.Boolean)"),
    ("Флаг", "", "'' is not a boolean, true or false (Edm.Boolean)"),
    ("Флаг", "True", "'True' is not a boolean"),  # xsd:boolean is lower case
    ("Флаг", 1, "1 is not a boolean"),
    ("Байт", "256", "'256' is not a whole number from 0 to 255 (Edm.Byte)"),
    ("Малое", "40000", "is not a whole number from -32768 to 32767 (Edm.Int16)"),
    ("Целое", "1.5", "'1.5' is not a whole number (Edm.Int32)"),
    ("Целое", "1_000", "'1_000' is not a whole number"),  # what int() would take
    ("Целое", " 7", "' 7' is not a whole number"),
    ("Целое", True, "True is not a whole number"),
    ("Длинное", "", "'' is not a whole number (Edm.Int64)"),
    ("Длинное", "9223372036854775808", "is not a whole number from"),
    ("Сумма", "1,5", "'1,5' is not a number such as 1234.56 (Edm.Decimal)"),
    ("Сумма", "NaN", "is not a number such as 1234.56"),
    ("Доля", "abc", "'abc' is not a number (Edm.Double)"),
    ("Доля", "1_0", "'1_0' is not a number"),
    ("Дата", "2026-13-45T25:61:00", "'2026-13-45T25:61:00' is not a valid date and time (month must be in 1..12)"),
    ("Дата", "2024-02-30T10:00:00", "is not a valid date and time (day is out of range for month)"),
    ("Дата", "18.03.2024 10:42:07", "'18.03.2024 10:42:07' is not a date and time YYYY-MM-DDTHH:MM:SS (Edm.DateTime)"),
    ("Дата", "2024-03-18", "is not a date and time YYYY-MM-DDTHH:MM:SS"),
    ("Дата", 20240318, "is not a date and time"),
    ("Партнер_Key", "not-a-guid", "'not-a-guid' is not a reference key (GUID) (Edm.Guid)"),
    ("Строки", "rows", "'rows' is not a list of rows"),
])
def test_a_value_not_of_its_declared_type_is_refused_naming_field_value_and_what_is_valid(
        meta: Metadata, field: str, wire: Any, expected: str) -> None:
    with pytest.raises(BadValue) as caught:
        read(meta, field, wire)
    assert caught.value.fields == (field,)
    assert str(caught.value).startswith(f"{field}: ")
    assert expected in str(caught.value)


def test_every_bad_field_of_a_record_is_named_at_once_tabular_rows_by_line(meta: Metadata) -> None:
    record = {"Ref_Key": KEY, "Флаг": "maybe", "Дата": "2026-13-45T25:61:00", "Текст": "ok",
              "Строки": [{"LineNumber": "1", "Флаг": "false"}, {"LineNumber": "2", "Флаг": "да"}]}
    with pytest.raises(BadValue) as caught:
        from_wire(meta, "Catalog_Все", record, MOSCOW)
    assert caught.value.fields == ("Флаг", "Дата", "Строки[2].Флаг")


def test_tabular_rows_are_typed_by_their_row_type_and_an_empty_atom_section_is_no_rows(meta: Metadata) -> None:
    rows = read(meta, "Строки", [{"LineNumber": "1", "Флаг": "true", "Дата": "2024-03-18T10:42:07"},
                                 {"LineNumber": "2", "Флаг": False, "Дата": EMPTY_DATE}])
    assert rows == [{"LineNumber": 1, "Флаг": True, "Дата": datetime(2024, 3, 18, 10, 42, 7, tzinfo=MOSCOW)},
                    {"LineNumber": 2, "Флаг": False, "Дата": None}]
    assert read(meta, "Строки", "") == []  # <d:Строки m:type="Collection(…)"/>
    assert read(meta, "Строки", []) == []


def test_a_row_field_is_read_the_same_in_every_row_and_one_not_in_the_row_type_stays_as_it_came(meta: Metadata) -> None:
    # The row fields' readers are worked out once per section and kept for its other rows
    # (and records): a row after the first reads as the first did, a name the row type
    # does not list (an annotation too: only a record's own are dropped) as it came.
    section = [{"LineNumber": "1", "Флаг": "1", "Дата": EMPTY_DATE, "Тип@odata.type": "x"},
               {"LineNumber": "2", "Флаг": "0", "Дата": "2024-03-18T10:42:07", "Тип@odata.type": "y", "Иное": "7"}]
    first = read(meta, "Строки", section)
    again = read(meta, "Строки", section[::-1])
    assert first == [{"LineNumber": 1, "Флаг": True, "Дата": None, "Тип@odata.type": "x"},
                     {"LineNumber": 2, "Флаг": False, "Дата": datetime(2024, 3, 18, 10, 42, 7, tzinfo=MOSCOW),
                      "Тип@odata.type": "y", "Иное": "7"}]
    assert again == first[::-1]


@pytest.mark.parametrize(("field", "wire"), [
    ("Флаг", "false"), ("Байт", "255"), ("Длинное", "-7"), ("Сумма", "1.50"), ("Доля", "INF"),
    ("Дата", EMPTY_DATE), ("Дата", "2024-03-18T10:42:07.5"), ("Момент", "2024-03-18T10:42:07+03:00"),
    ("Партнер_Key", EMPTY_REF), ("Партнер_Key", KEY), ("Основание", EMPTY_REF), ("Текст", EMPTY_REF),
    ("Строки", [{"LineNumber": "1", "Флаг": "true"}]),
])
def test_read_value_and_from_wire_type_a_value_alike(meta: Metadata, field: str, wire: Any) -> None:
    entity = meta.entity("Catalog_Все")
    assert entity is not None
    props = entity.properties
    assert read_value(props[field], wire, MOSCOW, meta, props) == read(meta, field, wire)


def _as_atom_text(value: Any) -> Any:
    """A JSON value as the element text of a real 1C package: no type, booleans lower case."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return [{k: _as_atom_text(v) for k, v in row.items()} for row in value] or ""
    return value if value is None else str(value)


def test_the_fixture_document_reads_the_same_from_json_and_from_untyped_atom_text() -> None:
    meta = parse_metadata((SHARED / "metadata.edmx").read_bytes())
    raw = {k: v for k, v in json.loads((SHARED / "document_interes_single.json").read_text("utf-8")).items()
           if "@" not in k and not k.startswith("odata.")}
    from_json = from_wire(meta, "Document_Интерес", raw, MOSCOW)
    from_text = from_wire(meta, "Document_Интерес", {k: _as_atom_text(v) for k, v in raw.items()}, MOSCOW)
    assert from_text == from_json
    assert from_json["DeletionMark"] is False
    assert from_json["Posted"] is False
    assert from_json["Соисполнители"][0]["LineNumber"] == 1
    assert from_json["ДатаЗавершения"] is None
