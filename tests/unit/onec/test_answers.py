"""What 1C answered, checked (issue #20 points 1 and 3), one layer at a time against
``responses`` mocks: a write answer must be the record, a 2xx ``odata.error`` is that
error with 1C's text, and a keyset pass that does not move stops."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from adapters.onec.config import OneCODataConfig
from adapters.onec.errors import (
    OneCAccessDenied,
    OneCBusinessError,
    OneCNoProgress,
    OneCNotFound,
    OneCRejected,
    OneCUnavailable,
)
from adapters.onec.odata import ODataClient

BASE = "http://1c.test/crm/odata/standard.odata/"
DOC = "Document_Интерес"
KEY = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> ODataClient:
    return ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=0)


def error_body(code: str, text: str) -> dict[str, Any]:
    return {"odata.error": {"code": code, "message": {"lang": "ru", "value": text}}}


def record_url(key: str = KEY) -> str:
    return f"{BASE}{DOC}(guid'{key}')"


@pytest.mark.parametrize(("code", "text", "raised"), [
    ("-1", "Ошибка при выполнении обработчика - 'ПередЗаписью'", OneCBusinessError),
    ("20", "Недостаточно прав для изменения данных", OneCAccessDenied),
    ("9", "Объект не найден", OneCNotFound),
    ("6", "Неизвестное поле", OneCRejected),
    ("-1", "Конфликт блокировок при выполнении транзакции", OneCUnavailable),
])
def test_a_200_odata_error_to_a_patch_raises_the_error_it_holds_with_1cs_text(
        api: responses.RequestsMock, client: ODataClient, code: str, text: str, raised: type[Exception]) -> None:
    api.patch(record_url(), json=error_body(code, text), status=200)
    with pytest.raises(raised) as caught:
        client.patch(DOC, KEY, {"Тема": "x"})
    assert text in str(caught.value)
    assert "HTTP 200" in str(caught.value)


@pytest.mark.parametrize(("answer", "said"), [
    ({"body": b""}, "empty body"),
    ({"body": b"<html><head><title>Sign in</title></head></html>", "content_type": "text/html"}, "«Sign in»"),
    ({"json": [{"Ref_Key": KEY}]}, "JSON list"),
    ({"json": {"result": "ok"}}, "holds no Ref_Key"),
    ({"json": {"Ref_Key": str(uuid.UUID(int=7))}}, "not the one written"),
    ({"body": b"{\"Ref_Key\": "}, "malformed JSON"),
])
def test_a_patch_answer_that_is_not_the_record_written_is_a_retryable_failure(
        api: responses.RequestsMock, client: ODataClient, answer: dict[str, Any], said: str) -> None:
    api.patch(record_url(), status=200, **answer)
    with pytest.raises(OneCUnavailable, match=said):
        client.patch(DOC, KEY, {"Тема": "x"})


def test_a_patch_answer_holding_the_record_is_returned(api: responses.RequestsMock, client: ODataClient) -> None:
    api.patch(record_url(), json={"Ref_Key": KEY.upper(), "Тема": "x", "DataVersion": "AAAAAQAAAAA="})
    assert client.patch(DOC, KEY, {"Тема": "x"})["DataVersion"] == "AAAAAQAAAAA="


def test_a_post_answer_must_be_the_created_record_with_its_key(api: responses.RequestsMock, client: ODataClient) -> None:
    api.post(f"{BASE}{DOC}", json={"Number": "CRM-1"}, status=201)
    with pytest.raises(OneCUnavailable, match="holds no Ref_Key"):
        client.post(DOC, {"Тема": "x"})


@pytest.mark.parametrize("call", ["post_document", "unpost_document", "delete"])
def test_an_action_answered_200_with_an_error_or_a_page_is_not_done(
        api: responses.RequestsMock, client: ODataClient, call: str) -> None:
    method = api.delete if call == "delete" else api.post
    url = {"post_document": f"{record_url()}/Post", "unpost_document": f"{record_url()}/Unpost",
           "delete": record_url()}[call]
    method(url, json=error_body("-1", "Не удалось провести документ"), status=200)
    method(url, body=b"<html><title>502</title></html>", status=200, content_type="text/html")
    method(url, body=b"", status=200)
    with pytest.raises(OneCBusinessError, match="Не удалось провести документ"):
        getattr(client, call)(DOC, KEY)
    with pytest.raises(OneCUnavailable, match="not 1C's JSON"):
        getattr(client, call)(DOC, KEY)
    getattr(client, call)(DOC, KEY)  # an empty 200 is how 1C says it is done


def test_a_200_odata_error_to_a_read_is_that_error_with_1cs_text(api: responses.RequestsMock, client: ODataClient) -> None:
    api.get(f"{BASE}{DOC}", json=error_body("-1", "Ошибка при выполнении запроса {Документ.Интерес(12)}"))
    with pytest.raises(OneCBusinessError, match=r"Документ\.Интерес\(12\)"):
        client.query(DOC)


def test_an_announced_answer_over_the_cap_is_refused_before_it_is_read(api: responses.RequestsMock) -> None:
    capped = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=0, max_answer_bytes=1000)
    api.get(f"{BASE}{DOC}", json={"value": [{"Ref_Key": KEY, "Тема": "ы" * 1000}]})
    with pytest.raises(OneCRejected, match="max_answer_mb") as caught:
        capped.query(DOC)
    assert caught.value.retryable  # kept and retried after a pause, like any configuration fault


def pages_of_fresh_keys(counted: str | None) -> Any:
    """A server that answers every page with two keys never seen before (a proxy that makes
    up records, a base growing without end), and the count `counted` (None: refused)."""
    made = iter(range(1, 10_000))

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        if "inlinecount" in request.url:
            if counted is None:
                return 400, {}, json.dumps(error_body("6", "Неизвестный параметр $inlinecount"))
            return 200, {}, json.dumps({"odata.count": counted, "value": []})
        return 200, {}, json.dumps({"value": [{"Ref_Key": str(uuid.UUID(int=next(made)))} for _ in range(2)]})
    return answer


def test_a_pass_reading_more_records_than_1c_counts_stops_at_its_ceiling(
        api: responses.RequestsMock, client: ODataClient) -> None:
    api.add_callback(responses.GET, f"{BASE}{DOC}", callback=pages_of_fresh_keys("5"))
    read: list[int] = []

    def drain() -> None:
        read.extend(len(page) for page in client.pages(DOC, page_size=2))

    with pytest.raises(OneCNoProgress, match="1C counts 5 records") as caught:
        drain()
    assert sum(read) == 2 * 5 + 2 * 2  # twice the count plus two pages, then it stops
    assert "1C ignored the filter" in str(caught.value)


def test_a_set_1c_will_not_count_is_paged_under_the_fixed_ceiling(api: responses.RequestsMock, client: ODataClient) -> None:
    api.add_callback(responses.GET, f"{BASE}{DOC}", callback=pages_of_fresh_keys(None))
    pages = client.pages(DOC, page_size=2)
    assert len([next(pages) for _ in range(20)]) == 20  # the count refused: reading goes on


def test_a_page_repeating_a_key_of_the_page_before_stops_the_pass(api: responses.RequestsMock, client: ODataClient) -> None:
    keys = [str(uuid.UUID(int=i)) for i in (1, 2, 3)]
    api.get(f"{BASE}{DOC}", json={"value": [{"Ref_Key": keys[0]}, {"Ref_Key": keys[1]}]})
    api.get(f"{BASE}{DOC}", json={"odata.count": "3", "value": []})
    api.get(f"{BASE}{DOC}", json={"value": [{"Ref_Key": keys[1]}, {"Ref_Key": keys[2]}]})
    with pytest.raises(OneCNoProgress, match=f"page 2 of a keyset pass repeats key {keys[1]}"):
        list(client.pages(DOC, page_size=2))


def test_timeouts_and_the_answer_cap_are_configured_per_backend() -> None:
    config = OneCODataConfig.model_validate({
        "kind": "onec_odata", "url": "http://1c.test/crm/odata/standard.odata/", "username": "u", "password": "p",
        "timeout": {"connect": 2, "read": 10, "total": 30}, "max_answer_mb": 8})
    assert (config.timeout.total, config.max_answer_mb) == (30, 8)
    default = OneCODataConfig.model_validate({
        "kind": "onec_odata", "url": "http://1c.test/crm/odata/standard.odata/", "username": "u", "password": "p"})
    assert (default.timeout.total, default.max_answer_mb) == (300, 64)
    with pytest.raises(ValueError, match="max_answer_mb"):
        OneCODataConfig.model_validate({
            "kind": "onec_odata", "url": "http://1c.test/crm/odata/standard.odata/", "username": "u", "password": "p",
            "max_answer_mb": 0})


def test_the_count_asked_for_the_ceiling_gives_an_import_its_total(api: responses.RequestsMock, client: ODataClient) -> None:
    from crm_bridge import progress

    api.add_callback(responses.GET, f"{BASE}{DOC}", callback=pages_of_fresh_keys("6"))
    with progress.task("import crm ticket", unit="records", key=("crm", DOC)) as bar:
        assert getattr(bar, "total", None) is None
        pages = client.pages(DOC, page_size=2)
        next(pages)
        next(pages)  # a second page: 1C is asked for its count once
        assert getattr(bar, "total", None) == 6
