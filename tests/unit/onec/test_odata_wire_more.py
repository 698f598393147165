"""More of the OData client's wire details (issue #7 point 1 and 8), ``responses`` only:
quote- and Cyrillic-bearing filter values, batched key reads, bounded key ranges, writes
and document posting, composite references, and every 1C answer as a typed error."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from adapters.onec.errors import (
    OneCAccessDenied,
    OneCAuthFailed,
    OneCBusinessError,
    OneCBusy,
    OneCNotFound,
    OneCNotPublished,
    OneCRejected,
    OneCRequestTooLong,
    OneCUnavailable,
    OneCVersionConflict,
    raise_for_response,
    retry_after_seconds,
)
from adapters.onec.metadata import parse_metadata
from adapters.onec.odata import ODataClient, datetime_literal, guid_literal, string_literal
from adapters.onec.values import EMPTY_REF, from_wire

BASE = "http://1c.test/crm/odata/standard.odata/"
DOC = "Document_Интерес"
DOC_URL = f"{BASE}Document_%D0%98%D0%BD%D1%82%D0%B5%D1%80%D0%B5%D1%81"
KEY = "9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onec"
MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[ODataClient]:
    c = ODataClient(name="crm", base_url=BASE, username="Интеграция", password="пароль", read_retries=0)
    yield c
    c.close()


def query_of(call: Any) -> dict[str, str]:
    """The raw (still percent-encoded) query options of a recorded call."""
    raw = urlsplit(call.request.url).query
    return dict(part.split("=", 1) for part in raw.split("&"))


def test_a_value_with_quotes_and_url_metacharacters_reaches_1c_intact(api: responses.RequestsMock, client: ODataClient) -> None:
    tricky = "ООО «Ромашка» O'Brien & Co #1 100%+"
    api.get(DOC_URL, json={"value": []})
    client.query(DOC, select=["Ref_Key", "Тема"], filter=f"Тема eq {string_literal(tricky)}")
    raw = query_of(api.calls[0])["$filter"]
    for char in " &#+«":
        assert char not in raw  # each one percent-encoded: '&' would end the option, '#' the URL, '+' is not a space
    assert unquote(raw) == "Тема eq 'ООО «Ромашка» O''Brien & Co #1 100%+'"
    assert all(code in raw for code in ("%2B", "%26", "%23", "%25"))
    assert unquote(query_of(api.calls[0])["$select"]) == "Ref_Key,Тема"


def test_guid_and_datetime_literals_in_a_url(api: responses.RequestsMock, client: ODataClient) -> None:
    api.get(DOC_URL, json={"value": []})
    since = datetime(2024, 3, 18, 10, 42, 7, 999)
    client.query(DOC, filter=f"Партнер_Key eq {guid_literal(KEY)} and Date ge {datetime_literal(since)}")
    assert unquote(query_of(api.calls[0])["$filter"]) == (
        f"Партнер_Key eq guid'{KEY}' and Date ge datetime'2024-03-18T10:42:07'")
    with pytest.raises(ValueError, match="badly formed"):
        guid_literal("'; drop")


def test_entity_set_names_are_checked_before_any_request(client: ODataClient) -> None:
    for bad in ("Catalog_X?$top=1", "Catalog_X/../$metadata", "Catalog X", ""):
        with pytest.raises(ValueError, match="not a 1C entity-set name"):
            client.query(bad)
    assert client.requests_made == 0


def test_key_lookups_go_in_batches_of_checked_guids_joined_with_or(api: responses.RequestsMock, client: ODataClient) -> None:
    client.max_query_string = 8000  # behind Apache: the batch size decides
    keys = [f"00000000-0000-0000-0000-{i:012d}" for i in range(85)]
    api.get(DOC_URL, json={"value": [{"Ref_Key": k} for k in keys[:40]]})
    api.get(DOC_URL, json={"value": [{"Ref_Key": k} for k in keys[40:80]]})
    api.get(DOC_URL, json={"value": [{"Ref_Key": k} for k in keys[80:]]})
    rows = client.by_keys(DOC, keys, select=["Ref_Key", "СрокИсполнения"])
    assert [r["Ref_Key"] for r in rows] == keys
    filters = [unquote(query_of(call)["$filter"]) for call in api.calls]
    assert [f.count(" or ") + 1 for f in filters] == [40, 40, 5]
    assert filters[2].startswith("Ref_Key eq guid'00000000-0000-0000-0000-000000000080' or ")
    assert all(len(urlsplit(call.request.url or "").query) <= 8000 for call in api.calls)
    with pytest.raises(ValueError, match="badly formed"):
        client.by_keys(DOC, [KEY, "not-a-guid"])


def test_key_lookups_fit_the_query_string_limit_of_iis_whatever_the_select(api: responses.RequestsMock,
                                                                          client: ODataClient) -> None:
    keys = [f"00000000-0000-0000-0000-{i:012d}" for i in range(100)]
    select = ["Ref_Key", "DataVersion", "СрокИсполнения", "ДатаЗавершения", "КонтактноеЛицо_Key", "Ответственный_Key",
              "ИдентификаторВнешний", "КаналОбращения", "ИсточникОбращения", "ДатаПервогоОтвета"]  # 781 bytes encoded
    api.get(DOC_URL, json={"value": []})
    api.get(DOC_URL, json={"value": []})
    client.by_keys(DOC, keys[:5], select=select[:1])
    client.by_keys(DOC, keys, select=select)
    short, *long = api.calls
    queries = [urlsplit(call.request.url or "").query for call in long]
    assert all(len(q) <= 2048 for q in queries)  # the default: IIS's maxQueryString
    assert max(len(q) for q in queries) > 2048 - 70  # filled, not cut at a fixed count
    sent = [k for q in queries for k in re.findall(r"guid'([0-9a-f-]{36})'", unquote(q))]
    assert sent == keys  # every key once, in order
    assert len(queries) > 100 // 40 + 1  # fewer keys per call than with a short $select
    assert unquote(urlsplit(short.request.url or "").query).count(" or ") == 4


def test_a_query_string_refused_as_too_long_says_which_limit_to_set(api: responses.RequestsMock,
                                                                    client: ODataClient) -> None:
    iis = "<html><h3>HTTP Error 404.15 - Not Found</h3>The request filtering module is configured to deny ...</html>"
    api.get(DOC_URL, body=iis, status=404, content_type="text/html")
    api.get(DOC_URL, body="Request-URI Too Long", status=414)
    for status in ("404.15", "414"):
        with pytest.raises(OneCRequestTooLong, match=rf"refused a query string of \d+ bytes as too long \(HTTP {status}\)"
                           r".*set max_query_string in the backend configuration") as caught:
            client.query(DOC, select=["Ref_Key"])
        assert caught.value.retryable  # kept until the limit is fixed
        assert caught.value.administrative


def test_key_range_slices_bound_the_scan_and_resume_after_the_last_key(api: responses.RequestsMock, client: ODataClient) -> None:
    low, high = "40000000-0000-0000-0000-000000000000", "80000000-0000-0000-0000-000000000000"
    first = [{"Ref_Key": "40000000-0000-0000-0000-00000000000a"}, {"Ref_Key": "40000000-0000-0000-0000-00000000000b"}]
    api.get(DOC_URL, json={"value": first})
    api.get(DOC_URL, json={"value": []})
    pages = list(client.pages(DOC, select=["Ref_Key"], start=low, before=high, page_size=2))
    assert pages == [first]
    reads = [call for call in api.calls if "$inlinecount" not in query_of(call)]  # not the count for the ceiling
    opening, resumed = (unquote(query_of(call)["$filter"]) for call in reads)
    assert opening == f"Ref_Key ge guid'{low}' and Ref_Key lt guid'{high}'"
    # the start stays: a cursor kept from slices cut otherwise never leads below it
    assert resumed == f"Ref_Key gt guid'{first[-1]['Ref_Key']}' and Ref_Key ge guid'{low}' and Ref_Key lt guid'{high}'"
    assert all(unquote(query_of(call)["$orderby"]) == "Ref_Key" for call in reads)
    assert all(query_of(call)["$top"] == "2" for call in reads)


def test_pages_are_a_generator_holding_one_page_at_a_time(api: responses.RequestsMock, client: ODataClient) -> None:
    api.get(DOC_URL, json={"value": [{"Ref_Key": f"00000000-0000-0000-0000-00000000000{i}"} for i in (1, 2)]})
    pages = client.pages(DOC, select=["Ref_Key"], page_size=2)
    assert len(api.calls) == 0  # nothing read before the first page is asked for
    next(pages)
    assert len(api.calls) == 1
    api.get(DOC_URL, json={"value": []})
    assert list(pages) == []


def test_post_patch_delete_send_utf8_json_and_post_unpost_address_the_document(api: responses.RequestsMock, client: ODataClient) -> None:
    one = f"{DOC_URL}(guid'{KEY}')"
    api.post(DOC_URL, status=201, json={"Ref_Key": KEY, "DataVersion": "AAAAAAAAAAA="})
    api.patch(one, json={"Ref_Key": KEY, "DataVersion": "AAAAAAAAAAE="})
    api.post(f"{one}/Post", body=b"")
    api.post(f"{one}/Unpost", body=b"")
    api.delete(one, status=204)
    assert client.post(DOC, {"Тема": "Счёт «на оплату»"})["DataVersion"] == "AAAAAAAAAAA="
    assert client.patch(DOC, KEY, {"Тема": "O'Brien"})["DataVersion"] == "AAAAAAAAAAE="
    client.post_document(DOC, KEY)
    client.unpost_document(DOC, KEY)
    client.delete(DOC, KEY)
    created, patched, posted, unposted, deleted = api.calls
    assert created.request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(created.request.body or b"") == {"Тема": "Счёт «на оплату»"}
    assert isinstance(created.request.body, bytes)
    assert "Счёт".encode() in created.request.body  # raw UTF-8, not \\u escapes
    assert json.loads(patched.request.body or b"") == {"Тема": "O'Brien"}
    assert query_of(posted)["PostingModeOperational"] == "false"  # operational mode fails for back-dated documents
    assert all(query_of(call)["$format"] == "json" for call in api.calls)
    assert (posted.request.method, unposted.request.method, deleted.request.method) == ("POST", "POST", "DELETE")


def test_a_posting_refusal_is_a_business_error_with_1cs_text(api: responses.RequestsMock, client: ODataClient) -> None:
    body = (FIXTURES / "error_500_business.json").read_bytes()
    api.post(f"{DOC_URL}(guid'{KEY}')/Post", status=500, body=body)
    with pytest.raises(OneCBusinessError) as caught:
        client.post_document(DOC, KEY)
    assert not caught.value.retryable
    assert caught.value.code == "-1"


def test_composite_references_keep_their_type_and_empty_ones_become_none() -> None:
    meta = parse_metadata((FIXTURES / "metadata.edmx").read_bytes())
    raw = json.loads((FIXTURES / "document_interes_single.json").read_text(encoding="utf-8"))
    values = from_wire(meta, DOC, raw, MOSCOW)
    assert values["Основание"] == "b7c6d5e4-7a3b-11ee-9f10-0a1b2c3d4e01"
    assert values["Основание_Type"] == "StandardODATA.Document_ЭлектронноеПисьмоВходящее"
    assert values["Соисполнители"][0]["Пользователь_Key"] == "51e0aa02-4c00-11ee-8c4a-0a1b2c3d4e01"
    empty = from_wire(meta, DOC, {**raw, "Основание": EMPTY_REF, "Контрагент_Key": EMPTY_REF, "Основание_Type":
                                  "StandardODATA.Document_ЭлектронноеПисьмоВходящее", "Тема": EMPTY_REF}, MOSCOW)
    assert (empty["Основание"], empty["Контрагент_Key"]) == (None, None)
    assert empty["Тема"] == EMPTY_REF  # a plain string that happens to look like a GUID is left alone
    unset = from_wire(meta, DOC, {**raw, "Основание": None, "Основание_Type": "StandardODATA.Undefined"}, MOSCOW)
    assert unset["Основание"] is None
    assert (values["DataVersion"], values["DeletionMark"]) == ("AAAAAAAAAAI=", False)


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers.update(headers or {})
    return response


def odata_error(code: str, text: str) -> bytes:
    return json.dumps({"odata.error": {"code": code, "message": {"lang": "ru", "value": text}}}, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("status", "body", "error", "retryable"),
    [
        (401, odata_error("-1", "Идентификация пользователя не выполнена"), OneCAuthFailed, True),
        (404, odata_error("6", "Сегмент 'Catalog_X' не найден"), OneCNotPublished, True),
        (404, odata_error("9", "Экземпляр сущности не найден"), OneCNotFound, False),
        (409, b"", OneCVersionConflict, True),
        (412, b"Precondition Failed", OneCVersionConflict, True),
        (400, odata_error("14", "Ошибка при разборе опции запроса $filter"), OneCRejected, False),
        (403, odata_error("20", "Недостаточно прав"), OneCAccessDenied, False),  # parked: RLS refuses one record
        (400, odata_error("20", "Нарушение прав доступа"), OneCAccessDenied, False),
        (414, b"Request-URI Too Long", OneCRequestTooLong, True),
        (500, odata_error("-1", "Ошибка при выполнении обработчика - 'ПриЗаписи'"), OneCBusinessError, False),
        # a 1C user holds the document: the same -1, but it passes
        (500, odata_error("-1", "Конфликт блокировок при выполнении транзакции: Превышено максимальное время ожидания"),
         OneCUnavailable, True),
        (500, odata_error("-1", "Объект заблокирован: Интерес 000000123 от 20.11.2026"), OneCUnavailable, True),
        (500, odata_error("0", "Внутренняя ошибка сервера"), OneCUnavailable, True),
        (500, b"<html>IIS: 500.0 Internal Server Error</html>", OneCUnavailable, True),
        (502, b"<html>Bad Gateway</html>", OneCUnavailable, True),
        (503, odata_error("-1", "Информационная база заблокирована"), OneCBusy, True),  # every write waits
        (504, b"", OneCUnavailable, True),
        (429, b"", OneCBusy, True),
        (408, b"<html>Request Timeout</html>", OneCUnavailable, True),  # a proxy gave up waiting for the body
    ],
)
def test_every_1c_answer_is_a_typed_error_classified_retryable_or_not(
    status: int, body: bytes, error: type[Exception], retryable: bool
) -> None:
    with pytest.raises(error) as caught:
        raise_for_response("crm", answer(status, b"\xef\xbb\xbf" + body), "PATCH Document_Интерес(…)")
    assert type(caught.value) is error
    assert isinstance(caught.value, OneCRejected | OneCUnavailable)
    assert caught.value.retryable is retryable
    assert str(caught.value).startswith("crm: PATCH Document_Интерес(…): ")


def test_configuration_faults_wait_a_minute_before_the_outbox_tries_again() -> None:
    for status, body in ((401, b""), (404, odata_error("6", "Сегмент не найден"))):
        with pytest.raises(OneCRejected) as caught:
            raise_for_response("crm", answer(status, body), "GET Catalog_X")
        assert caught.value.retry_after == 60.0
    with pytest.raises(OneCNotPublished, match="Настройка стандартного интерфейса OData"):
        raise_for_response("crm", answer(404, b""), "GET Catalog_X")


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=100), usegmt=True)
    with pytest.raises(OneCUnavailable) as caught:
        raise_for_response("crm", answer(503, b"", {"Retry-After": later}), "GET Catalog_X")
    assert caught.value.retry_after is not None
    assert 90 <= caught.value.retry_after <= 100


def xml_error(code: str, message: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
            f'<code>{code}</code><message xml:lang="ru">{message}</message></error>').encode()


def test_an_xml_error_body_is_read_for_1cs_code_and_message() -> None:
    """What 1C answers a call made without $format=json ($metadata, SelectChanges)."""
    with pytest.raises(OneCRejected, match=r"1C code 14: Ошибка разбора \$filter$"):
        raise_for_response("crm", answer(400, xml_error("14", "Ошибка разбора $filter")), "GET Catalog_X")
    with pytest.raises(OneCNotFound):  # code 9: the object, not the set, is missing
        raise_for_response("crm", answer(404, xml_error("9", "Экземпляр сущности не найден")), "GET Catalog_X")
    with pytest.raises(OneCBusinessError) as caught:  # a handler's refusal: parked, not retried
        raise_for_response("crm", answer(500, b"\xef\xbb\xbf" + xml_error("-1", "Ошибка при выполнении обработчика")),
                           "POST ExchangePlan_X/SelectChanges")
    assert caught.value.retryable is False
    with pytest.raises(OneCUnavailable):  # an entity in the body: not read, and a 500 without a code is retried
        raise_for_response("crm", answer(500, b'<!DOCTYPE e [<!ENTITY x "-1">]>' + xml_error("&x;", "boom")), "GET Catalog_X")


def test_library_exceptions_never_escape_a_call(api: responses.RequestsMock, client: ODataClient) -> None:
    for exc in (requests.ConnectionError("refused"), requests.ReadTimeout("slow"), requests.exceptions.ChunkedEncodingError("cut"),
                requests.exceptions.ContentDecodingError("gzip"), requests.TooManyRedirects("loop")):
        api.get(DOC_URL, body=exc)
        with pytest.raises(OneCUnavailable):
            client.query(DOC)
    api.get(DOC_URL, json={"odata.metadata": "x"})  # 200 without a value list: never read as "no records"
    with pytest.raises(OneCUnavailable, match="no 'value' list"):
        client.query(DOC)
