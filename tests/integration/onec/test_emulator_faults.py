"""Fault injection, unpublishing, counters and the simulated 1C user, over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from adapters.onec.emulator import Emulator
from adapters.onec.emulator.faults import Fault


def control(emu: Emulator, method: str, resource: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"http://127.0.0.1:{emu.port}/__emulator__/{resource}",
                            json=body, timeout=10)


def first_doc_url(emu: Emulator) -> str:
    ref = emu.records("Document_Интерес")[0]["Ref_Key"]
    return f"{emu.base_url}Document_Интерес(guid'{ref}')?$format=json"


def test_next_two_patches_fail_with_503_and_retry_after_then_succeed(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    added = control(fresh_emulator, "POST", "faults", {
        "kind": "status", "status": 503, "retry_after": 2, "method": "PATCH",
        "entity_set": "Document_Интерес", "count": 2})
    assert added.status_code == 201
    url = first_doc_url(fresh_emulator)
    assert onec_session.get(url, timeout=10).status_code == 200  # GETs are not affected
    failures = [onec_session.patch(url, json={"Комментарий": "x"}, timeout=10) for _ in range(2)]
    assert [r.status_code for r in failures] == [503, 503]
    assert failures[0].headers["Retry-After"] == "2"
    assert failures[0].json()["odata.error"]["code"] == "-1"
    assert onec_session.patch(url, json={"Комментарий": "x"}, timeout=10).status_code == 200
    assert control(fresh_emulator, "GET", "faults").json()["faults"] == []


def test_429_answers_with_retry_after(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("status", status=429, retry_after=1, count=1)
    response = onec_session.get(fresh_emulator.base_url + "Catalog_Партнеры?$format=json",
                                timeout=10)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "1")


def test_500_carries_a_1c_business_error_body(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("status", status=500, method="POST", count=1)
    response = onec_session.post(fresh_emulator.base_url + "Document_Интерес?$format=json",
                                 json={"Тема": "x"}, timeout=10)
    assert response.status_code == 500
    error = response.json()["odata.error"]
    assert error["code"] == "-1"
    assert "ПередЗаписью" in error["message"]["value"]


def test_timeout_fault_outlasts_the_client_read_timeout(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("timeout", seconds=2, count=1)
    with pytest.raises(requests.ReadTimeout):
        onec_session.get(fresh_emulator.base_url + "$metadata", timeout=0.3)


def test_latency_slows_only_the_scoped_set(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("latency", seconds=0.4, entity_set="$metadata")
    started = time.monotonic()
    onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10)
    slow = time.monotonic() - started
    started = time.monotonic()
    onec_session.get(fresh_emulator.base_url + "Catalog_Пользователи?$format=json", timeout=10)
    fast = time.monotonic() - started
    assert slow >= 0.4
    assert fast < 0.3


def test_truncated_body_breaks_the_read(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("truncate", count=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        onec_session.get(fresh_emulator.base_url + "Document_Интерес?$format=json", timeout=10)


def test_malformed_body_is_not_json(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("malformed", count=1)
    response = onec_session.get(fresh_emulator.base_url + "Document_Интерес?$format=json",
                                timeout=10)
    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_auth_fault_refuses_good_credentials(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("auth", count=1)
    assert onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10).status_code == 401
    assert onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10).status_code == 200


def test_dropped_connection_is_a_connection_error(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    fresh_emulator.inject("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10)


def test_unknown_fault_kind_is_a_400_naming_the_valid_ones(fresh_emulator: Emulator) -> None:
    response = control(fresh_emulator, "POST", "faults", {"kind": "flaky"})
    assert response.status_code == 400
    assert "latency" in response.json()["error"]


def test_faults_can_be_listed_and_removed_one_by_one(fresh_emulator: Emulator) -> None:
    added = control(fresh_emulator, "POST", "faults", [{"kind": "latency", "seconds": 0.01},
                                                       {"kind": "drop", "method": "DELETE"}])
    ids = [fault["id"] for fault in added.json()["faults"]]
    assert control(fresh_emulator, "DELETE", f"faults/{ids[0]}").status_code == 200
    remaining = control(fresh_emulator, "GET", "faults").json()["faults"]
    assert [fault["id"] for fault in remaining] == ids[1:]
    control(fresh_emulator, "DELETE", "faults")
    assert control(fresh_emulator, "GET", "faults").json()["faults"] == []


def test_unpublished_set_leaves_metadata_and_its_urls_404(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    control(fresh_emulator, "POST", "unpublished", {"sets": ["Catalog_Контрагенты"]})
    metadata = onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10).text
    assert 'EntitySet Name="Catalog_Контрагенты"' not in metadata
    assert 'EntitySet Name="Catalog_Контрагенты_КонтактнаяИнформация"' not in metadata
    assert 'EntitySet Name="Catalog_Партнеры"' in metadata
    listing = onec_session.get(fresh_emulator.base_url + "Catalog_Контрагенты?$format=json",
                               timeout=10)
    assert listing.status_code == 404
    doc = onec_session.get(fresh_emulator.base_url + "Document_Интерес?$format=json&$top=20",
                           timeout=10).json()["value"]
    assert not any("Контрагент@navigationLinkUrl" in row for row in doc)
    control(fresh_emulator, "DELETE", "unpublished")
    assert onec_session.get(fresh_emulator.base_url + "Catalog_Контрагенты?$format=json",
                            timeout=10).status_code == 200


def test_unpublished_at_construction() -> None:
    with Emulator(requests=10, unpublished=["Document_Интерес"]) as emu, \
            requests.Session() as session:
        session.auth = ("Администратор".encode(), b"demo")
        names = {s["name"] for s in session.get(emu.base_url + "?$format=json",
                                                timeout=10).json()["value"]}
        assert "Document_Интерес" not in names
        assert "Document_Интерес_Соисполнители" not in names


def test_stats_count_every_http_request_per_method_and_set(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    url = first_doc_url(fresh_emulator)
    onec_session.get(url, timeout=10)
    onec_session.patch(url, json={}, timeout=10)
    onec_session.patch(url, json={}, timeout=10)
    stats = control(fresh_emulator, "GET", "stats").json()
    assert stats["requests"] == {"GET": 1, "PATCH": 2}
    assert stats["by_set"]["Document_Интерес"] == {"GET": 1, "PATCH": 2}
    assert stats["total"] == 3
    control(fresh_emulator, "DELETE", "stats")
    assert control(fresh_emulator, "GET", "stats").json()["total"] == 0


def test_edits_endpoint_changes_data_versions(fresh_emulator: Emulator) -> None:
    before = {d["Ref_Key"]: d["DataVersion"] for d in fresh_emulator.records("Document_Интерес")}
    edits = control(fresh_emulator, "POST", "edits", {"count": 5}).json()["edits"]
    assert len(edits) == 5
    after = {d["Ref_Key"]: d["DataVersion"] for d in fresh_emulator.records("Document_Интерес")}
    for action, ref in edits:
        assert action in ("update", "create")
        assert ref in after
        assert before.get(ref) != after[ref]


def test_one_given_edit_through_the_endpoint(fresh_emulator: Emulator) -> None:
    ref = fresh_emulator.records("Document_Интерес")[0]["Ref_Key"]
    control(fresh_emulator, "POST", "edits", {"ref": ref, "changes": {"Тема": "правка в 1С"}})
    doc = fresh_emulator.get("Document_Интерес", ref)
    assert doc is not None
    assert doc["Тема"] == "правка в 1С"


def test_a_document_a_1c_user_holds_open_refuses_odata_writes_with_1cs_lock_error(fresh_emulator: Emulator) -> None:
    ref = fresh_emulator.records("Document_Интерес")[0]["Ref_Key"]
    url = f"{fresh_emulator.base_url}Document_Интерес(guid'{ref}')?$format=json"
    auth = ("Администратор".encode(), b"demo")
    held = control(fresh_emulator, "POST", "held", {"ref": ref}).json()["held"]
    assert [h["ref"] for h in held] == [ref]
    refused = requests.patch(url, json={"Тема": "из моста"}, auth=auth, timeout=10)
    assert refused.status_code == 500
    error = refused.json()["odata.error"]
    assert error["code"] == "-1"
    assert "Объект заблокирован" in error["message"]["value"]
    posting = requests.post(f"{fresh_emulator.base_url}Document_Интерес(guid'{ref}')/Post", auth=auth, timeout=10)
    assert posting.status_code == 500
    assert requests.get(url, auth=auth, timeout=10).json()["Тема"] != "из моста"  # reading is not locked
    fresh_emulator.activity.edit(ref, {"Тема": "правка в форме"})  # the user holding it writes
    assert control(fresh_emulator, "DELETE", f"held/{ref}").json()["held"] == []
    assert requests.patch(url, json={"Тема": "из моста"}, auth=auth, timeout=10).status_code == 200
    assert control(fresh_emulator, "POST", "held", {"ref": "00000000-0000-0000-0000-00000000dead"}).status_code == 404


def test_background_user_edits_while_the_server_runs(fresh_emulator: Emulator) -> None:
    started = control(fresh_emulator, "POST", "activity", {"rate": 50}).json()
    assert started["running"] is True
    deadline = time.monotonic() + 5
    while fresh_emulator.activity.edits < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = control(fresh_emulator, "DELETE", "activity").json()
    assert stopped["running"] is False
    assert stopped["edits"] >= 5


def test_constructor_faults_and_cold_start() -> None:
    with Emulator(requests=10, cold_start=0.3,
                  faults=[Fault("status", status=503, entity_set="Catalog_Партнеры")]) as emu, \
            requests.Session() as session:
        session.auth = ("Администратор".encode(), b"demo")
        started = time.monotonic()
        assert session.get(emu.base_url + "$metadata", timeout=10).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert session.get(emu.base_url + "Catalog_Партнеры?$format=json",
                           timeout=10).status_code == 503
