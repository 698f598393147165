"""The OData client's wire details, one layer, with ``responses`` (no socket)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from adapters.onec.errors import (
    OneCAuthFailed,
    OneCBusinessError,
    OneCNotFound,
    OneCNotPublished,
    OneCRejected,
    OneCSilent,
    OneCUnavailable,
)
from adapters.onec.exchange import parse_feed
from adapters.onec.metadata import parse_metadata
from adapters.onec.odata import ODataClient, datetime_literal, guid_literal, string_literal
from adapters.onec.values import from_wire, to_wire

BASE = "http://1c.test/crm/odata/standard.odata/"

SHARED = Path(__file__).resolve().parents[2] / "fixtures" / "onec"
KEY = "9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01"


@pytest.fixture
def onec_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        yield api


@pytest.fixture
def client() -> Iterator[ODataClient]:
    c = ODataClient(name="crm", base_url=BASE, username="Администратор", password="пароль", read_retries=0)
    yield c
    c.close()


def error_body(code: str, text: str) -> bytes:
    return ("\ufeff" + json.dumps({"odata.error": {"code": code, "message": {"lang": "ru", "value": text}}})).encode()


def test_filter_literals_are_quoted_never_pasted() -> None:
    assert string_literal("O'Brien") == "'O''Brien'"
    assert guid_literal(KEY.upper()) == f"guid'{KEY}'"
    assert datetime_literal(datetime(2024, 3, 18, 10, 42, 7, 123)) == "datetime'2024-03-18T10:42:07'"  # noqa: DTZ001 - 1C wall time
    utc = datetime(2024, 3, 18, 7, 42, 7, tzinfo=ZoneInfo("UTC"))
    assert datetime_literal(utc, ZoneInfo("Europe/Moscow")) == "datetime'2024-03-18T10:42:07'"
    with pytest.raises(ValueError, match="aware: give the backend's time zone"):
        datetime_literal(utc)
    with pytest.raises(ValueError, match="badly formed"):
        guid_literal("x') or (1 eq 1")


def test_cyrillic_set_and_spaces_are_percent_encoded_and_never_plus(onec_api: responses.RequestsMock, client: ODataClient) -> None:
    onec_api.get(f"{BASE}Document_%D0%98%D0%BD%D1%82%D0%B5%D1%80%D0%B5%D1%81", json={"value": []})
    client.query("Document_Интерес", select=["Ref_Key", "Тема"], filter=f"Тема eq {string_literal('Не печатает')}", top=5)
    url = onec_api.calls[0].request.url
    assert url is not None
    assert "+" not in url
    query = url.split("?", 1)[1]
    assert query.startswith("$format=json&")
    assert "$filter=%D0%A2%D0%B5%D0%BC%D0%B0%20eq%20'%D0%9D%D0%B5%20" in query
    assert unquote(query).endswith("$top=5")


def test_basic_auth_is_sent_as_utf8(onec_api: responses.RequestsMock, client: ODataClient) -> None:
    onec_api.get(f"{BASE}Catalog_%D0%9F%D0%B0%D1%80%D1%82%D0%BD%D0%B5%D1%80%D1%8B", json={"value": []})
    client.query("Catalog_Партнеры")
    header = onec_api.calls[0].request.headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode("utf-8") == "Администратор:пароль"


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, error_body("9", "Экземпляр сущности не найден"), OneCNotFound, "no such record"),
        (404, b"", OneCNotPublished, "standard OData interface"),
        (401, b"", OneCAuthFailed, "username/password"),
        (400, error_body("14", "Ошибка при разборе опции запроса $filter"), OneCRejected, "code 14"),
        (500, error_body("-1", "Ошибка при выполнении обработчика - 'ПередЗаписью'"), OneCBusinessError, "ПередЗаписью"),
        (503, b"Service Unavailable", OneCUnavailable, "will retry"),
        (429, b"", OneCUnavailable, "HTTP 429"),
    ],
)
def test_1c_answers_become_typed_errors(
    onec_api: responses.RequestsMock, client: ODataClient, status: int, body: bytes, error: type[Exception], text: str
) -> None:
    onec_api.patch(f"{BASE}Document_%D0%98%D0%BD%D1%82%D0%B5%D1%80%D0%B5%D1%81(guid'{KEY}')", status=status, body=body)
    with pytest.raises(error, match=text):
        client.patch("Document_Интерес", KEY, {"Тема": "x"})


def test_retry_after_is_carried_on_the_error(onec_api: responses.RequestsMock, client: ODataClient) -> None:
    onec_api.get(f"{BASE}Catalog_X", status=429, headers={"Retry-After": "7"})
    with pytest.raises(OneCUnavailable) as err:
        client.query("Catalog_X")
    assert err.value.retryable
    assert err.value.retry_after == 7.0


def test_malformed_json_is_retryable_not_a_crash(onec_api: responses.RequestsMock, client: ODataClient) -> None:
    onec_api.get(f"{BASE}Catalog_X", body=b'{"value": [{"Ref_Key": ')
    with pytest.raises(OneCUnavailable, match="malformed JSON"):
        client.query("Catalog_X")


def test_connection_timeout_becomes_unavailable(onec_api: responses.RequestsMock, client: ODataClient) -> None:
    onec_api.get(f"{BASE}Catalog_X", body=requests.ConnectTimeout("slow"))
    with pytest.raises(OneCUnavailable, match="no answer"):
        client.query("Catalog_X")


def test_keyset_pages_resume_after_the_last_key(onec_api: responses.RequestsMock, client: ODataClient) -> None:
    keys = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(1, 4)]
    onec_api.get(f"{BASE}Catalog_X", json={"value": [{"Ref_Key": keys[0]}, {"Ref_Key": keys[1]}]})
    onec_api.get(f"{BASE}Catalog_X", json={"value": [{"Ref_Key": keys[2]}]})
    pages = list(client.pages("Catalog_X", select=["Ref_Key"], page_size=2))
    assert [len(p) for p in pages] == [2, 1]
    urls = [unquote(call.request.url or "") for call in onec_api.calls]
    # a full first page: 1C is asked once for the set's count, the pass's ceiling
    assert ["$inlinecount=allpages" in url for url in urls] == [False, True, False]
    second = urls[2]
    assert f"$filter=Ref_Key gt guid'{keys[1]}'" in second
    assert "$orderby=Ref_Key" in second


def test_naive_1c_dates_are_read_in_the_backend_zone_and_sentinels_become_none() -> None:
    meta = parse_metadata((SHARED / "metadata.edmx").read_bytes())
    raw = json.loads((SHARED / "document_interes_single.json").read_text(encoding="utf-8"))
    values = from_wire(meta, "Document_Интерес", raw, ZoneInfo("Europe/Moscow"))
    assert values["Date"] == datetime(2024, 3, 18, 10, 42, 7, tzinfo=ZoneInfo("Europe/Moscow"))
    assert values["ДатаЗавершения"] is None
    assert values["Соисполнители"][0]["LineNumber"] == 1
    assert "Партнер@navigationLinkUrl" not in values
    due = datetime(2024, 3, 20, 15, 0, tzinfo=ZoneInfo("UTC"))
    body = to_wire(meta, "Document_Интерес", {"СрокИсполнения": due, "Контрагент_Key": None}, ZoneInfo("Europe/Moscow"))
    assert body == {"СрокИсполнения": "2024-03-20T18:00:00", "Контрагент_Key": "00000000-0000-0000-0000-000000000000"}


def test_the_functions_1c_binds_to_a_document_type_are_read_from_metadata() -> None:
    meta = parse_metadata((SHARED / "metadata.edmx").read_bytes())
    assert meta.actions == {"Document_Интерес": frozenset({"Post", "Unpost"})}  # catalogs are not posted


def test_metadata_with_a_dtd_is_refused() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(OneCUnavailable, match="DTD"):
        parse_metadata(evil)
    hidden = b'<?xml version="1.0"?><!--' + b"padding " * 1000 + b'--><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(OneCUnavailable, match="DTD"):  # a long comment does not hide it
        parse_metadata(hidden)
    with pytest.raises(OneCUnavailable, match="DTD"):
        parse_feed(hidden, 1)


def test_a_read_is_retried_in_place_after_a_retryable_fault(onec_api: responses.RequestsMock) -> None:
    client = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=2, max_retry_wait=0.01)
    onec_api.get(f"{BASE}Catalog_X", status=503, headers={"Retry-After": "0"})
    onec_api.get(f"{BASE}Catalog_X", body=b'{"value": [{"Ref_Key": ')  # truncated
    onec_api.get(f"{BASE}Catalog_X", json={"value": [{"Ref_Key": KEY}]})
    try:
        assert client.query("Catalog_X") == [{"Ref_Key": KEY}]
        assert client.requests_made == 3
    finally:
        client.close()


def test_each_retry_in_place_is_logged_at_the_default_level(onec_api: responses.RequestsMock,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """Issue #22 point 5: a wait is never silent at the default log level (warning)."""
    client = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=2, max_retry_wait=0.01)
    onec_api.get(f"{BASE}Catalog_X", status=503, headers={"Retry-After": "0"})
    onec_api.get(f"{BASE}Catalog_X", status=503, headers={"Retry-After": "0"})
    onec_api.get(f"{BASE}Catalog_X", json={"value": []})
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.onec.odata"):
            assert client.query("Catalog_X") == []
    finally:
        client.close()
    retries = [r for r in caplog.records if getattr(r, "event", None) == "onec.read.retry"]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert "HTTP 503" in retries[0].getMessage()
    assert "attempt 2 of 3" in retries[0].getMessage()
    assert "attempt 3 of 3" in retries[1].getMessage()


def test_a_silent_server_is_not_asked_again_when_a_person_waits(onec_api: responses.RequestsMock) -> None:
    """Interactive commands (``retry_silence=False``): the silence is said at once, and a
    later call of the same command fails with it instead of waiting once more."""
    client = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=3, max_retry_wait=0.01,
                         retry_silence=False)
    onec_api.get(f"{BASE}Catalog_X", body=requests.ReadTimeout("read timeout=10"))
    try:
        for _ in range(2):
            with pytest.raises(OneCSilent, match="connected, but 1C did not answer in 60 s"):
                client.query("Catalog_X")
        assert client.requests_made == 1
    finally:
        client.close()


def test_a_pause_longer_than_the_client_waits_in_place_goes_to_the_caller_at_once(
        onec_api: responses.RequestsMock) -> None:
    """1C asks for two minutes; asking again after max_retry_wait would only add to its load:
    the job fails now and runs again later."""
    client = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=3, max_retry_wait=0.01)
    onec_api.get(f"{BASE}Catalog_X", status=429, headers={"Retry-After": "120"})
    try:
        with pytest.raises(OneCUnavailable) as err:
            client.query("Catalog_X")
        assert (err.value.retry_after, client.requests_made) == (120.0, 1)
    finally:
        client.close()


def test_metadata_is_retried_in_place_and_its_faults_say_what_to_fix_in_the_publication(
    onec_api: responses.RequestsMock,
) -> None:
    client = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=2, max_retry_wait=0.01)
    onec_api.get(f"{BASE}$metadata", status=503)  # a cold 1C
    onec_api.get(f"{BASE}$metadata", body=(SHARED / "metadata.edmx").read_bytes()[:500])  # cut short
    onec_api.get(f"{BASE}$metadata", body=(SHARED / "metadata.edmx").read_bytes())
    assert "Document_Интерес" in client.metadata().entity_sets
    assert client.requests_made == 3
    onec_api.get(f"{BASE}$metadata", status=404, body=b"<html>Not Found</html>")
    with pytest.raises(OneCNotPublished, match=r"serves no OData interface \(HTTP 404\); check that url ends in "
                       r"/<publication>/odata/standard\.odata/ and .*Публиковать стандартный интерфейс OData"):
        client.metadata(refresh=True)
    empty = (b'<?xml version="1.0"?><edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">'
             b'<edmx:DataServices><Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">'
             b'<EntityContainer Name="EnterpriseV8"/></Schema></edmx:DataServices></edmx:Edmx>')
    onec_api.get(f"{BASE}$metadata", body=empty)
    with pytest.raises(OneCNotPublished, match="the standard OData interface content is empty; add the mapped objects"):
        client.metadata(refresh=True)
    client.close()


def test_writes_are_never_retried_in_place(onec_api: responses.RequestsMock) -> None:
    client = ODataClient(name="crm", base_url=BASE, username="u", password="p", read_retries=2, max_retry_wait=0.01)
    onec_api.patch(f"{BASE}Document_%D0%98%D0%BD%D1%82%D0%B5%D1%80%D0%B5%D1%81(guid'{KEY}')", status=503)
    try:
        with pytest.raises(OneCUnavailable):
            client.patch("Document_Интерес", KEY, {"Тема": "x"})
        assert client.requests_made == 1  # the outbox decides when to try again
    finally:
        client.close()


@pytest.mark.parametrize(("fault", "cause"), [
    (requests.ConnectTimeout("connect timeout=5"), "connecting timed out (timeout.connect)"),
    (requests.ReadTimeout("read timeout=60"),
     "connected, but 1C did not answer in 60 s (publication overloaded or the wrong port?)"),
    (requests.ConnectionError("HTTPConnectionPool(host='1c.test', port=80): Max retries exceeded (Caused by "
                              "NameResolutionError(\"Failed to resolve '1c.test'\"))"), "the host name does not resolve"),
    (requests.ConnectionError("('Connection aborted.', RemoteDisconnected('Remote end closed connection'))"),
     "the server closed the connection without an answer"),
])
def test_a_connection_fault_names_the_host_and_its_likely_cause(onec_api: responses.RequestsMock, client: ODataClient,
                                                                fault: Exception, cause: str) -> None:
    onec_api.get(f"{BASE}Catalog_X", body=fault)
    with pytest.raises(OneCUnavailable) as err:
        client.query("Catalog_X")
    assert str(err.value).startswith("crm: GET Catalog_X: no answer from 1c.test")
    assert cause in str(err.value)
    assert err.value.once == str(err.value).removesuffix("; will retry")


@pytest.mark.parametrize("due", [datetime(4000, 1, 1, 12, 0, tzinfo=ZoneInfo("UTC")),
                                 datetime(3999, 12, 31, 22, 0, tzinfo=ZoneInfo("UTC")),  # 01:00 on 4000-01-01 in Moscow
                                 datetime.max.replace(tzinfo=ZoneInfo("UTC"))])
def test_a_date_past_3999_the_last_1c_stores_is_refused_naming_the_field_not_sent(due: datetime) -> None:
    meta = parse_metadata((SHARED / "metadata.edmx").read_bytes())
    with pytest.raises(OneCRejected, match=r"Document_Интерес\.СрокИсполнения: .* past 3999-12-31"):
        to_wire(meta, "Document_Интерес", {"СрокИсполнения": due}, ZoneInfo("Europe/Moscow"))
    last = datetime(3999, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Europe/Moscow"))
    assert to_wire(meta, "Document_Интерес", {"СрокИсполнения": last}, ZoneInfo("Europe/Moscow")) == {
        "СрокИсполнения": "3999-12-31T23:59:59"}
