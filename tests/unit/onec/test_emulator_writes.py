"""Writes to the 1C emulator (POST, PATCH, Post/Unpost, DELETE) through its gateway."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest

from adapters.onec.emulator import Emulator, ODataError

NOW = datetime(2024, 3, 20, 12, 0, 0)
ROOT = "/crm/odata/standard.odata/"
AUTH = "Basic " + base64.b64encode("Администратор:demo".encode()).decode()
EMPTY_REF = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def emu() -> Emulator:
    return Emulator(requests=50, seed=11, now=NOW)


def call(emu: Emulator, method: str, path: str, body: Any = None,
         query: str = "$format=json") -> tuple[int, Any, dict[str, str]]:
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
    response = emu.gateway(method, ROOT + path, query, {"authorization": AUTH}, raw,
                           "http://crm-demo.local")
    decoded = json.loads(response.body) if response.body else None
    return response.status, decoded, response.headers


def doc_path(ref: str) -> str:
    return f"Document_Интерес(guid'{ref}')"


def first_posted(emu: Emulator) -> dict[str, Any]:
    return next(d for d in emu.records("Document_Интерес") if d["Posted"])


def test_post_creates_with_defaults_number_and_location(emu: Emulator) -> None:
    partner = emu.records("Catalog_Партнеры")[0]["Ref_Key"]
    status, body, headers = call(emu, "POST", "Document_Интерес",
                                 {"Партнер_Key": partner, "Тема": "Новое обращение", "Лишнее": 1})
    assert status == 201
    assert body["Number"] == "CRM-0000051"
    assert body["DataVersion"] == "AAAAAAAAAAA="
    assert body["СрокИсполнения"] == "0001-01-01T00:00:00"
    assert body["Соисполнители"] == []
    assert body["Date"].startswith("2024-03-20T12:00")
    assert "Лишнее" not in body
    assert headers["Location"] == f"http://crm-demo.local{ROOT}Document_Интерес(guid'{body['Ref_Key']}')"
    assert emu.get("Document_Интерес", body["Ref_Key"]) is not None


def test_post_honours_a_client_ref_key_and_refuses_a_duplicate(emu: Emulator) -> None:
    ref = "11111111-2222-3333-4444-555555555555"
    assert call(emu, "POST", "Catalog_Партнеры", {"Ref_Key": ref, "Description": "Тест"})[0] == 201
    status, body, _ = call(emu, "POST", "Catalog_Партнеры", {"Ref_Key": ref, "Description": "Тест"})
    assert (status, body["odata.error"]["code"]) == (400, "15")


def test_post_assigns_catalog_codes(emu: Emulator) -> None:
    _, body, _ = call(emu, "POST", "Catalog_Партнеры", {"Description": "Новый клиент"})
    assert body["Code"].isdigit()
    assert len(body["Code"]) == 9


def test_patch_returns_the_whole_object_and_bumps_data_version(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]),
                           {"СрокИсполнения": "2024-03-21T18:00:00", "НарушениеSLA": True})
    assert status == 200
    assert body["СрокИсполнения"] == "2024-03-21T18:00:00"
    assert body["Тема"] == doc["Тема"]
    assert body["DataVersion"] != doc["DataVersion"]


def test_no_op_patch_still_bumps_data_version(emu: Emulator) -> None:
    doc = first_posted(emu)
    _, first, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {})
    _, second, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {"Тема": first["Тема"]})
    versions = [doc["DataVersion"], first["DataVersion"], second["DataVersion"]]
    counters = [int.from_bytes(base64.b64decode(v), "big") for v in versions]
    assert counters == [counters[0], counters[0] + 1, counters[0] + 2]


def test_if_match_and_stale_data_version_are_ignored(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]),
                           {"DataVersion": "AAAAAAAAAAA=", "Тема": "Последняя запись побеждает"})
    assert status == 200
    assert body["Тема"] == "Последняя запись побеждает"


def test_patch_of_unknown_key_is_404_code_9(emu: Emulator) -> None:
    status, body, _ = call(emu, "PATCH", doc_path(EMPTY_REF), {"Тема": "x"})
    assert (status, body["odata.error"]["code"]) == (404, "9")


def test_tabular_section_in_patch_replaces_the_whole_section(emu: Emulator) -> None:
    doc = first_posted(emu)
    agents = emu.seed.agents
    rows = [{"LineNumber": "1", "Пользователь_Key": agents[0], "Роль": "Соисполнитель"},
            {"LineNumber": 2, "Пользователь_Key": agents[1]}]
    _, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {"Соисполнители": rows})
    assert [(r["LineNumber"], r["Пользователь_Key"]) for r in body["Соисполнители"]] == [
        ("1", agents[0]), ("2", agents[1])]
    _, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]),
                      {"Соисполнители": [{"LineNumber": 1, "Пользователь_Key": agents[3]}]})
    assert [r["Пользователь_Key"] for r in body["Соисполнители"]] == [agents[3]]


def test_line_numbers_not_starting_at_one_are_400(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, _, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]),
                        {"Соисполнители": [{"LineNumber": 2}, {"LineNumber": 3}]})
    assert status == 400


def test_missing_line_number_is_500(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]),
                           {"Соисполнители": [{"Роль": "x"}]})
    assert (status, body["odata.error"]["code"]) == (500, "-1")


def test_malformed_guid_in_a_body_is_400_code_1(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {"Партнер_Key": "не-гуид"})
    assert (status, body["odata.error"]["code"]) == (400, "1")


def test_non_numeric_int64_is_silently_kept(emu: Emulator) -> None:
    state = emu.records("Catalog_СостоянияИнтересов")[0]
    _, body, _ = call(emu, "PATCH", f"Catalog_СостоянияИнтересов(guid'{state['Ref_Key']}')",
                      {"РеквизитДопУпорядочивания": "много"})
    assert body["РеквизитДопУпорядочивания"] == state["РеквизитДопУпорядочивания"]


def test_deletion_mark_on_a_posted_document_is_a_500_business_error(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {"DeletionMark": True})
    assert (status, body["odata.error"]["code"]) == (500, "-1")
    after = emu.get("Document_Интерес", doc["Ref_Key"])
    assert after is not None
    assert (after["DeletionMark"], after["DataVersion"]) == (False, doc["DataVersion"])


def test_unpost_then_mark_for_deletion(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, _, _ = call(emu, "POST", doc_path(doc["Ref_Key"]) + "/Unpost")
    assert status == 200
    status, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {"DeletionMark": True})
    assert status == 200
    assert (body["Posted"], body["DeletionMark"]) == (False, True)


def test_post_flips_posted_and_operational_mode_refuses_back_dated_documents(emu: Emulator) -> None:
    doc = next(d for d in emu.records("Document_Интерес")
               if not d["Posted"] and not d["DeletionMark"] and d["Date"] < "2024-03-20")
    status, body, _ = call(emu, "POST", doc_path(doc["Ref_Key"]) + "/Post",
                           query="PostingModeOperational=true&$format=json")
    assert (status, body["odata.error"]["code"]) == (500, "-1")
    status, _, _ = call(emu, "POST", doc_path(doc["Ref_Key"]) + "/Post",
                        query="PostingModeOperational=false&$format=json")
    assert status == 200
    after = emu.get("Document_Интерес", doc["Ref_Key"])
    assert after is not None
    assert after["Posted"] is True


def test_posted_in_a_patch_body_is_ignored(emu: Emulator) -> None:
    doc = first_posted(emu)
    _, body, _ = call(emu, "PATCH", doc_path(doc["Ref_Key"]), {"Posted": False})
    assert body["Posted"] is True


def test_delete_of_an_object_is_refused_by_default(emu: Emulator) -> None:
    doc = first_posted(emu)
    status, body, _ = call(emu, "DELETE", doc_path(doc["Ref_Key"]))
    assert (status, body["odata.error"]["code"]) == (400, "19")


def test_delete_when_allowed_is_204_then_404() -> None:
    emu = Emulator(requests=20, seed=2, now=NOW, allow_delete=True)
    ref = emu.records("Document_Интерес")[0]["Ref_Key"]
    assert call(emu, "DELETE", doc_path(ref))[0] == 204
    assert call(emu, "GET", doc_path(ref))[0] == 404


def test_creating_rows_of_a_tabular_set_directly_is_refused(emu: Emulator) -> None:
    status, body, _ = call(emu, "POST", "Document_Интерес_Соисполнители", {"LineNumber": 1})
    assert (status, body["odata.error"]["code"]) == (400, "13")


def test_malformed_json_body_is_500(emu: Emulator) -> None:
    doc = first_posted(emu)
    response = emu.gateway("PATCH", ROOT + doc_path(doc["Ref_Key"]), "$format=json",
                           {"authorization": AUTH}, b"{not json", "http://x")
    assert response.status == 500


def test_update_api_acts_like_a_1c_user(emu: Emulator) -> None:
    doc = first_posted(emu)
    after = emu.update("Document_Интерес", doc["Ref_Key"], {"Комментарий": "правка в 1С"})
    assert after["Комментарий"] == "правка в 1С"
    assert after["DataVersion"] != doc["DataVersion"]
    with pytest.raises(ODataError):
        emu.update("Document_Интерес", EMPTY_REF, {"Комментарий": "x"})


def test_data_load_mode_header_skips_the_business_check(emu: Emulator) -> None:
    doc = first_posted(emu)
    response = emu.gateway("PATCH", ROOT + doc_path(doc["Ref_Key"]), "$format=json",
                           {"authorization": AUTH, "1c_odata_dataloadmode": "true"},
                           json.dumps({"DeletionMark": True}).encode(), "http://x")
    assert response.status == 200
    assert json.loads(response.body)["DeletionMark"] is True


SLA_STATE = '<Property Name="СостояниеSLA" Type="Edm.String" Nullable="true"/>'


def sla_state_of_length(length: int) -> str:
    """The packaged `$metadata` with `СостояниеSLA` a string of `length` characters."""
    from adapters.onec.emulator.schema import default_edmx

    edmx = default_edmx()
    assert SLA_STATE in edmx
    return edmx.replace(SLA_STATE, SLA_STATE.replace("/>", f' MaxLength="{length}"/>'))


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_a_string_longer_than_its_attribute_is_cut_silently_and_the_answer_shows_it(method: str) -> None:
    emu = Emulator(requests=5, seed=11, now=NOW, edmx=sla_state_of_length(5))
    ref = emu.records("Document_Интерес")[0]["Ref_Key"]
    path = doc_path(ref) if method == "PATCH" else "Document_Интерес"
    status, body, _ = call(emu, method, path, {"СостояниеSLA": "breached", "Тема": "длинная тема без ограничения"})
    assert status in (200, 201)  # no error: 1C says nothing
    assert body["СостояниеSLA"] == "breac"
    assert body["Тема"] == "длинная тема без ограничения"  # no MaxLength: an unlimited string
    stored = emu.get("Document_Интерес", body["Ref_Key"])
    assert stored is not None
    assert stored["СостояниеSLA"] == "breac"


def test_truncation_off_stores_the_whole_string() -> None:
    emu = Emulator(requests=5, seed=11, now=NOW, edmx=sla_state_of_length(5), truncate_strings=False)
    ref = emu.records("Document_Интерес")[0]["Ref_Key"]
    status, body, _ = call(emu, "PATCH", doc_path(ref), {"СостояниеSLA": "breached"})
    assert (status, body["СостояниеSLA"]) == (200, "breached")
