"""The SOAP client's refusals and fault mapping, HTTP mocked with ``responses``: no body
zeep would "recover", no DTD in a WSDL, no library exception escaping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests
import responses

from adapters.onec.errors import OneCAuthFailed, OneCNotPublished, OneCRejected, OneCUnavailable
from adapters.onec.soap import SoapClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onec"
ADDRESS = "http://1c-more.test/crm/ws/CrmExchange.1cws"
ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        wsdl = (FIXTURES / "crm_exchange.wsdl").read_text(encoding="utf-8")
        wsdl = wsdl.replace("http://crm-demo.local/crm/ws/CrmExchange.1cws", ADDRESS)
        mock.get(f"{ADDRESS}?wsdl", body=wsdl.encode(), content_type="text/xml")
        yield mock


@pytest.fixture
def soap(api: responses.RequestsMock) -> Iterator[SoapClient]:
    client = SoapClient(name="crm", wsdl=f"{ADDRESS}?wsdl", username="Интеграция", password="пароль")
    client.operations()
    yield client
    client.close()


def address(soap: SoapClient) -> str:
    return str(soap.service._binding_options["address"])


def test_a_cut_answer_is_retried_never_recovered_into_a_shorter_page(api: responses.RequestsMock, soap: SoapClient) -> None:
    whole = (FIXTURES / "soap_GetChangedRequests_response.xml").read_bytes()
    cut = whole[: whole.index("</ns2:Обращение>".encode()) + 10]  # inside the closing tag of the first item
    api.post(address(soap), body=cut, content_type="text/xml")
    with pytest.raises(OneCUnavailable, match="malformed XML"):
        soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=100)


def test_a_proxy_page_with_status_200_is_retried(api: responses.RequestsMock, soap: SoapClient) -> None:
    api.post(address(soap), body=b"<html><body>502 Bad Gateway<br></body></html>", content_type="text/html")
    with pytest.raises(OneCUnavailable):
        soap.call("GetRequest", RequestRef="x")


def test_an_external_entity_in_an_answer_is_refused(api: responses.RequestsMock, soap: SoapClient) -> None:
    evil = (f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f'<soap:Envelope xmlns:soap="{ENVELOPE}"><soap:Body>&x;</soap:Body></soap:Envelope>').encode()
    api.post(address(soap), body=evil, content_type="text/xml")
    with pytest.raises(OneCRejected, match="DTD"):
        soap.call("GetRequest", RequestRef="x")


def test_a_wsdl_with_a_dtd_is_refused() -> None:
    url = "http://1c-dtd.test/crm/ws/Evil.1cws?wsdl"
    with responses.RequestsMock() as mock:
        mock.get(url, body=b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><definitions>&a;</definitions>')
        client = SoapClient(name="crm", wsdl=url, username="u", password="p")
        with pytest.raises(OneCRejected, match="DTD"):
            client.operations()
        client.close()


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [(401, OneCAuthFailed, "refused the login"), (404, OneCNotPublished, "Публикация на веб-сервере"),
     (403, OneCRejected, "may not call"), (502, OneCUnavailable, "will retry")],
)
def test_http_refusals_on_a_call_are_typed(api: responses.RequestsMock, soap: SoapClient, status: int,
                                            error: type[Exception], text: str) -> None:
    api.post(address(soap), status=status, body=b"<html>IIS</html>")
    with pytest.raises(error, match=text) as caught:
        soap.call("GetRequest", RequestRef="x")
    assert type(caught.value) is error


def test_retry_after_as_an_http_date_is_carried(api: responses.RequestsMock, soap: SoapClient) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    api.post(address(soap), status=503, body=b"busy", headers={"Retry-After": later})
    with pytest.raises(OneCUnavailable) as caught:
        soap.call("GetRequest", RequestRef="x")
    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 120


@pytest.mark.parametrize("exc", [requests.exceptions.ChunkedEncodingError("cut"), requests.ConnectionError("reset"),
                                 requests.exceptions.ContentDecodingError("gzip")])
def test_no_requests_exception_escapes(api: responses.RequestsMock, soap: SoapClient, exc: Exception) -> None:
    api.post(address(soap), body=exc)
    with pytest.raises(OneCUnavailable):
        soap.call("GetRequest", RequestRef="x")
