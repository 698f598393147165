"""Reads from the 1C emulator, driven through its gateway without opening a socket."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from adapters.onec.emulator import Emulator

NOW = datetime(2024, 3, 20, 12, 0, 0)
ROOT = "/crm/odata/standard.odata/"
AUTH = "Basic " + base64.b64encode("Администратор:demo".encode()).decode()
EMPTY_REF = "00000000-0000-0000-0000-000000000000"


class Call:
    """One request through ``Emulator.gateway``: status, headers and decoded body."""

    def __init__(self, emu: Emulator, method: str, path: str, query: str = "$format=json",
                 body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        response = emu.gateway(method, ROOT + path, query, {"authorization": AUTH}, raw,
                               "http://crm-demo.local")
        self.status, self.body, self.headers = response.status, response.body, response.headers
        self.content_type = response.content_type

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8-sig"))

    @property
    def error_code(self) -> str:
        return str(self.json()["odata.error"]["code"])


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(requests=300, seed=7, now=NOW)


def q(text: str) -> str:
    """Percent-encode a query option value the way a careful client does (%20, not +)."""
    return quote(text, safe="")


def test_list_has_metadata_url_and_value_array(emu: Emulator) -> None:
    page = Call(emu, "GET", "Catalog_Пользователи").json()
    assert page["odata.metadata"] == f"http://crm-demo.local{ROOT}$metadata#Catalog_Пользователи"
    assert len(page["value"]) == 9
    assert {u["Description"] for u in page["value"] if u["Служебный"]} == {"Интеграция (служебный)"}


def test_inlinecount_is_a_string_and_respects_top(emu: Emulator) -> None:
    page = Call(emu, "GET", "Document_Интерес", "$format=json&$top=0&$inlinecount=allpages").json()
    assert page["odata.count"] == "300"
    assert page["value"] == []


def test_single_entity_is_an_element_with_int64_as_string(emu: Emulator) -> None:
    state = emu.records("Catalog_СостоянияИнтересов")[0]
    body = Call(emu, "GET", f"Catalog_СостоянияИнтересов(guid'{state['Ref_Key']}')").json()
    assert body["odata.metadata"].endswith("$metadata#Catalog_СостоянияИнтересов/@Element")
    assert body["РеквизитДопУпорядочивания"] == "1"
    assert "value" not in body


def test_navigation_links_only_for_non_empty_references(emu: Emulator) -> None:
    docs = emu.records("Document_Интерес")
    unassigned = next(d for d in docs if d["Ответственный_Key"] == EMPTY_REF)
    assigned = next(d for d in docs if d["Ответственный_Key"] != EMPTY_REF)
    assert "Ответственный@navigationLinkUrl" not in unassigned
    assert assigned["Ответственный@navigationLinkUrl"] == (
        f"Document_Интерес(guid'{assigned['Ref_Key']}')/Ответственный")


def test_empty_dates_are_the_1c_sentinel_not_null(emu: Emulator) -> None:
    doc = emu.records("Document_Интерес")[0]
    assert doc["СрокИсполнения"] == "0001-01-01T00:00:00"
    assert doc["Date"] < "2024-03-20T12:00:01"


def test_nometadata_drops_metadata_and_navigation_links(emu: Emulator) -> None:
    page = Call(emu, "GET", "Document_Интерес",
                "$format=application/json;odata=nometadata&$top=5").json()
    assert "odata.metadata" not in page
    assert not any(k.endswith("@navigationLinkUrl") for row in page["value"] for k in row)


def test_tabular_rows_repeat_the_owner_key_and_number_lines_as_strings(emu: Emulator) -> None:
    partner = emu.records("Catalog_Партнеры")[0]
    rows = partner["КонтактнаяИнформация"]
    assert [r["LineNumber"] for r in rows] == ["1", "2"]
    assert {r["Ref_Key"] for r in rows} == {partner["Ref_Key"]}


def test_navigation_segment_returns_the_referenced_object(emu: Emulator) -> None:
    doc = emu.records("Document_Интерес")[0]
    body = Call(emu, "GET", f"Document_Интерес(guid'{doc['Ref_Key']}')/Партнер").json()
    assert body["Ref_Key"] == doc["Партнер_Key"]
    assert body["odata.metadata"].endswith("#Catalog_Партнеры/@Element")


def test_count_segment_is_a_bare_number_and_honours_the_filter(emu: Emulator) -> None:
    every = Call(emu, "GET", "Document_Интерес/$count", "")
    assert every.body == b"300"
    posted = Call(emu, "GET", "Document_Интерес/$count", "$filter=" + q("Posted eq true"))
    expected = sum(1 for d in emu.records("Document_Интерес") if d["Posted"])
    assert posted.body == str(expected).encode()


def test_select_limits_the_properties_and_keeps_links_of_selected_refs(emu: Emulator) -> None:
    page = Call(emu, "GET", "Document_Интерес",
                "$format=json&$top=1&$select=" + q("Ref_Key,Партнер_Key")).json()
    row = page["value"][0]
    assert set(row) == {"Ref_Key", "Партнер_Key", "Партнер@navigationLinkUrl"}


def test_unknown_select_name_is_400_code_6_echoing_it(emu: Emulator) -> None:
    call = Call(emu, "GET", "Document_Интерес", "$format=json&$select=" + q("Ref_Key,Тэма"))
    assert call.status == 400
    assert call.error_code == "6"
    assert "Тэма" in call.json()["odata.error"]["message"]["value"]


def test_expand_works_only_when_the_navigation_is_also_selected(emu: Emulator) -> None:
    selected = Call(emu, "GET", "Document_Интерес", "$format=json&$top=1&$select="
                    + q("Ref_Key,Партнер/Description") + "&$expand=" + q("Партнер")).json()
    assert set(selected["value"][0]["Партнер"]) == {"Description"}
    not_selected = Call(emu, "GET", "Document_Интерес", "$format=json&$top=1&$select="
                        + q("Ref_Key") + "&$expand=" + q("Партнер")).json()
    assert "Партнер" not in not_selected["value"][0]
    no_select = Call(emu, "GET", "Document_Интерес", "$format=json&$top=1&$expand=Партнер").json()
    assert "Партнер" not in no_select["value"][0]


def test_orderby_several_fields_and_directions(emu: Emulator) -> None:
    page = Call(emu, "GET", "Document_Интерес",
                "$format=json&$orderby=" + q("Важность asc,Date desc")).json()["value"]
    keys = [(d["Важность"], d["Date"]) for d in page]
    expected = sorted(keys, key=lambda k: k[1], reverse=True)
    expected.sort(key=lambda k: k[0])
    assert keys == expected


def test_top_and_skip_page_in_storage_order(emu: Emulator) -> None:
    numbers = [d["Number"] for d in emu.records("Document_Интерес")]
    page = Call(emu, "GET", "Document_Интерес", "$format=json&$skip=10&$top=5").json()["value"]
    assert [d["Number"] for d in page] == numbers[10:15]


def test_plus_in_query_string_makes_1c_ignore_the_filter(emu: Emulator) -> None:
    plus = Call(emu, "GET", "Document_Интерес", "$format=json&$filter=Posted+eq+false").json()
    assert len(plus["value"]) == 300
    encoded = Call(emu, "GET", "Document_Интерес", "$format=json&$filter=Posted%20eq%20false")
    assert 0 < len(encoded.json()["value"]) < 300


def test_filter_syntax_error_is_400_code_14(emu: Emulator) -> None:
    call = Call(emu, "GET", "Document_Интерес", "$format=json&$filter=" + q("Posted eq"))
    assert call.status == 400
    assert call.error_code == "14"


def test_bad_guid_in_a_filter_is_400_code_1(emu: Emulator) -> None:
    call = Call(emu, "GET", "Document_Интерес", "$format=json&$filter=" + q("Ref_Key eq guid'zz'"))
    assert (call.status, call.error_code) == (400, "1")


def test_unknown_key_is_404_code_9(emu: Emulator) -> None:
    call = Call(emu, "GET", f"Document_Интерес(guid'{EMPTY_REF}')")
    assert (call.status, call.error_code) == (404, "9")
    assert call.json()["odata.error"]["message"] == {"lang": "ru", "value": "Экземпляр сущности не найден"}


def test_unknown_entity_set_is_404_echoing_the_name(emu: Emulator) -> None:
    call = Call(emu, "GET", "Catalog_Номенклатура")
    assert call.status == 404
    assert "Catalog_Номенклатура" in call.json()["odata.error"]["message"]["value"]


def test_without_format_json_the_answer_is_atom_xml_like_real_1c(emu: Emulator) -> None:
    call = Call(emu, "GET", "Catalog_СостоянияИнтересов", "")
    assert call.status == 200
    assert call.content_type.startswith("application/atom+xml")
    assert call.body.startswith(b"<?xml")
    assert "Ожидает ответа клиента".encode() in call.body
    with pytest.raises(json.JSONDecodeError):
        call.json()


def test_errors_without_format_json_are_xml(emu: Emulator) -> None:
    call = Call(emu, "GET", f"Document_Интерес(guid'{EMPTY_REF}')", "")
    assert call.status == 404
    assert b"<code>9</code>" in call.body


def test_metadata_is_the_packaged_edmx_with_the_demo_fields(emu: Emulator) -> None:
    call = Call(emu, "GET", "$metadata", "")
    assert call.content_type.startswith("application/xml")
    assert 'Name="СрокПервогоОтвета"'.encode() in call.body


def test_service_document_lists_the_published_sets(emu: Emulator) -> None:
    names = {s["name"] for s in Call(emu, "GET", "").json()["value"]}
    assert "Document_Интерес" in names
    assert "Document_Интерес_Соисполнители" in names


def test_tabular_section_set_lists_rows_with_owner_key(emu: Emulator) -> None:
    rows = Call(emu, "GET", "Catalog_Партнеры_КонтактнаяИнформация", "$format=json&$top=3")
    first = rows.json()["value"][0]
    assert first["LineNumber"] == "1"
    assert emu.get("Catalog_Партнеры", first["Ref_Key"]) is not None
    single = Call(emu, "GET", f"Catalog_Партнеры_КонтактнаяИнформация(Ref_Key=guid'{first['Ref_Key']}',LineNumber=2)")
    assert single.json()["Тип"] == "АдресЭлектроннойПочты"


def test_missing_credentials_are_401_with_a_basic_challenge(emu: Emulator) -> None:
    response = emu.gateway("GET", ROOT + "Document_Интерес", "$format=json", {}, b"", "http://x")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_cp1251_encoded_login_is_refused_like_iis_401(emu: Emulator) -> None:
    cp1251 = "Basic " + base64.b64encode("Администратор:demo".encode("cp1251")).decode()
    response = emu.gateway("GET", ROOT + "Document_Интерес", "$format=json",
                           {"authorization": cp1251}, b"", "http://x")
    assert response.status == 401
