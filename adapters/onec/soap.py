"""A client for 1C web services (SOAP, ``…/ws/<Name>.1cws?wsdl``), built on zeep.

What 1C needs and zeep does not do by default, handled here once:

* Basic auth on the WSDL fetch too (a plain ``zeep.Client(url)`` gets 401 on ``?wsdl``):
  one shared ``requests.Session`` with the UTF-8 login carries it;
* every exchange bounded (``deadline.bounded_exchange``, as OData's): connect and read
  timeouts, the whole exchange — headers included — within ``timeout.total``, and the
  answer streamed and cut off at ``max_answer_mb`` (a 1C session spin-up can take half a
  minute, a stuck one forever, a runaway answer any amount of memory);
* the WSDL parsed once and cached (``InMemoryCache`` per process, or ``SqliteCache``);
* ``xs:dateTime`` without offset: values 1C sends are read in the backend's time zone;
  values we send are converted to that zone's wall clock without offset;
* DTDs, entities and external references refused (zeep ``Settings(forbid_*)``);
* every answer parsed strictly before zeep's lenient parser sees it: a cut or garbled
  body is a retryable fault, never "recovered" into a shorter page;
* SOAP Faults and transport failures become the adapter's typed errors (401
  ``OneCAuthFailed``, 404 ``OneCNotPublished``, 429/5xx ``OneCUnavailable`` with the
  ``Retry-After`` asked for); no zeep or requests exception escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests
import zeep
import zeep.exceptions
import zeep.loader
from zeep.cache import Base as CacheBase
from zeep.cache import InMemoryCache
from zeep.helpers import serialize_object
from zeep.transports import Transport

from adapters.onec.deadline import bounded_exchange, watch_session
from adapters.onec.errors import (
    OneCAuthFailed,
    OneCBusinessError,
    OneCNotFound,
    OneCNotPublished,
    OneCRejected,
    OneCUnavailable,
    no_answer,
    retry_after_seconds,
    transient,
)

__all__ = ["OneCSoapFault", "SoapClient"]


class OneCSoapFault(OneCBusinessError):
    """The 1C service module raised (``ВызватьИсключение``): a SOAP Fault about the data
    or the call. Fatal, parked with 1C's text; a fault naming a lock conflict, an ended
    session or a restart is ``OneCUnavailable`` instead, and a missing object ``OneCNotFound``."""


class _HttpStatus(zeep.exceptions.TransportError):
    """A non-SOAP error answer, with the ``Retry-After`` it carried."""

    def __init__(self, status_code: int, content: bytes, retry_after: float | None) -> None:
        super().__init__(status_code=status_code, content=content)
        self.retry_after = retry_after


_WELL_FORMED = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def _check_well_formed(content: bytes, transport: Transport) -> None:
    """Parse strictly (no recovery, no DTD): raises zeep's XMLSyntaxError / DTDForbidden."""
    parse: Any = zeep.loader.parse_xml  # typed for str; lxml wants the raw bytes (encoding declared inside)
    parse(content, transport, settings=_WELL_FORMED)


class _OneCTransport(Transport):
    """Transport that bounds every exchange and stops broken answers before zeep reads them.

    * Every call and the WSDL fetch go through ``deadline.bounded_exchange``, as OData's
      do: the connect and read timeouts, the whole exchange (headers included) within
      ``total`` seconds, and the body streamed and cut off at ``max_bytes``
      (``max_answer_mb``) — a runaway answer costs at most that much memory.
    * A proxy's or IIS's 502/503 page is HTML; zeep would try to read it as an envelope
      and fail with an unrelated error. A Fault (HTTP 500 with an envelope) goes through.
    * The client parses leniently (``strict=False``: 1C's schemas are loose), and a
      lenient lxml *recovers* a cut or garbled body into a shorter valid one — a page of
      changes would silently lose records. Every body is first parsed strictly here.
    * The WSDL fetch fails with our status error (zeep's would be ``requests.HTTPError``).
    """

    def __init__(self, *, backend: str, timeout: tuple[float, float], total: float, max_bytes: int,
                 session: requests.Session, cache: CacheBase) -> None:
        super().__init__(session=watch_session(session), cache=cache, timeout=timeout[0] + timeout[1],
                         operation_timeout=timeout[1])
        self.backend, self.timeouts, self.total, self.max_bytes = backend, timeout, total, max_bytes

    def _bounded(self, method: str, url: str, what: str, data: bytes | None = None,
                 headers: Any = None) -> requests.Response:
        return bounded_exchange(self.session, method, url, backend=self.backend, what=what, timeout=self.timeouts,
                                total=self.total, max_bytes=self.max_bytes, data=data, headers=headers)

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        body = message.encode("utf-8") if isinstance(message, str) else message
        action = str(dict(headers or {}).get("SOAPAction", "")).strip('"').rpartition("#")[2]
        response = self._bounded("POST", address, f"POST {action or 'SOAP call'}", body, headers)
        status = response.status_code
        if status in (429, 502, 503, 504) or (status >= 400 and b"Envelope" not in response.content[:1000]):
            raise _HttpStatus(status, response.content[:500], retry_after_seconds(response.headers.get("Retry-After")))
        _check_well_formed(response.content, self)
        return response

    def _load_remote_data(self, url: str) -> bytes:
        response = self._bounded("GET", url, "GET WSDL")
        if response.status_code >= 400:
            raise _HttpStatus(response.status_code, response.content[:500],
                              retry_after_seconds(response.headers.get("Retry-After")))
        content: bytes = response.content
        _check_well_formed(content, self)
        return content


@contextmanager
def _translated(backend: str, what: str) -> Iterator[None]:
    """zeep's and requests' exceptions become the adapter's typed errors (none escapes)."""
    try:
        yield
    except zeep.exceptions.Fault as exc:
        raise _fault(backend, what, exc) from exc
    except zeep.exceptions.TransportError as exc:
        status, delay = exc.status_code, getattr(exc, "retry_after", None)
        if status == 401:
            raise OneCAuthFailed(f"{backend}: {what}: 1C refused the login (HTTP 401); check username/password "
                                 "in the backend configuration", status=401) from exc
        if status == 404:
            raise OneCNotPublished(f"{backend}: {what}: HTTP 404; is the web service published (Администрирование → "
                                   "Публикация на веб-сервере → Веб-сервисы) and its name right in the WSDL URL?",
                                   status=404) from exc
        if status == 403:
            raise OneCRejected(f"{backend}: {what}: HTTP 403; the user may not call this web service", status=403) from exc
        raise OneCUnavailable(f"{backend}: {what}: HTTP {status}; will retry", retry_after=delay) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise no_answer(backend, what, exc) from exc
    except requests.RequestException as exc:  # a cut answer (ChunkedEncodingError), a bad redirect…
        raise OneCUnavailable(f"{backend}: {what}: {type(exc).__name__}: {exc}; will retry") from exc
    except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as exc:
        raise OneCRejected(f"{backend}: {what}: the answer carries a DTD or entities; refused") from exc
    except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError) as exc:
        raise OneCUnavailable(f"{backend}: {what}: malformed XML from 1C ({exc}); will retry") from exc
    except zeep.exceptions.Error as exc:
        raise OneCRejected(f"{backend}: {what}: the answer does not match the WSDL ({type(exc).__name__}: {exc}); "
                           "was the web service changed? Restart to load its WSDL again") from exc


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _fault(backend: str, what: str, fault: zeep.exceptions.Fault) -> OneCRejected | OneCUnavailable:
    """A SOAP Fault as the typed error of what it says. The sender's fault (``Client``) is
    always a refusal; the service module's (``Server``) is retried when its text names a
    passing condition, and is a missing object when it names one by its key."""
    text, code = str(fault.message or ""), str(fault.code or "")
    server = not code.lower().endswith("client") and not code.lower().endswith("sender")
    if server and transient(text):
        return OneCUnavailable(f"{backend}: {what}: 1C could not do it now: {text}; will retry")
    if server and _GUID.search(text) and ("не найден" in text.lower() or "not found" in text.lower()):
        return OneCNotFound(f"{backend}: {what}: no such object in 1C: {text}", code=code)
    return OneCSoapFault(f"{backend}: {what}: 1C refused the call: {text}", code=code)


def _localise(value: Any, tz: ZoneInfo) -> Any:
    """Naive datetimes in a zeep answer → aware, in the backend zone. 1C's empty date
    (``0001-01-01T00:00:00``, what XDTO writes for a Дата nobody filled) → None, as over
    OData: in a time zone east of UTC it is no instant at all."""
    if isinstance(value, date) and (value.year, value.month, value.day) == (1, 1, 1):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value
    if isinstance(value, dict):
        return {k: _localise(v, tz) for k, v in value.items()}
    if isinstance(value, list):
        return [_localise(v, tz) for v in value]
    return value


def _wall_clock(value: Any, tz: ZoneInfo) -> Any:
    """Aware datetimes we send → the backend zone's wall clock without offset (1C reads no
    offset), inside structures and lists too (an XDTO object's dates)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"naive datetime {value.isoformat()} cannot be sent to 1C; attach a time zone"
            raise ValueError(msg)
        return value.astimezone(tz).replace(tzinfo=None, microsecond=0)
    if isinstance(value, Mapping):
        return {k: _wall_clock(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wall_clock(v, tz) for v in value]
    return value


def _endpoint(wsdl: str) -> str | None:
    """The service address a 1C WSDL URL stands for (``…/ws/<Name>.1cws?wsdl`` → without
    its query); None for any other WSDL (a file, a copy served elsewhere), whose own
    ``soap:address`` is then used."""
    parts = urlsplit(wsdl)
    if parts.scheme.lower() not in ("http", "https") or "/ws/" not in parts.path or parts.query.lower() != "wsdl":
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class SoapClient:
    """Calls the operations of one 1C web service.

    Example::

        soap = SoapClient(name="crm", wsdl="http://1c/crm/ws/CrmExchange.1cws?wsdl",
                          username="Интеграция", password=secret, timezone="Europe/Moscow")
        page = soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=100)
    """

    def __init__(
        self,
        *,
        name: str,
        wsdl: str,
        username: str,
        password: str,
        timezone: str = "Europe/Moscow",
        timeout: tuple[float, float] = (5.0, 60.0),
        session: requests.Session | None = None,
        cache: CacheBase | None = None,
        total_timeout: float = 300.0,
        max_answer_bytes: int = 64 << 20,
    ) -> None:
        self.name, self.wsdl, self.tz = name, wsdl, ZoneInfo(timezone)
        self.session = session or requests.Session()
        self.session.auth = (username.encode("utf-8"), password.encode("utf-8"))  # type: ignore[assignment]
        # every exchange bounded as OData's: timeout.total from sending to the last byte, max_answer_mb of body
        self._transport = _OneCTransport(backend=name, timeout=timeout, total=total_timeout,
                                         max_bytes=max_answer_bytes, session=self.session,
                                         cache=cache or InMemoryCache())
        self._settings = zeep.Settings(strict=False, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        self._client: zeep.Client | None = None
        self._service: Any = None

    @property
    def client(self) -> zeep.Client:
        """The zeep client; the WSDL is fetched (with auth) and parsed on first use."""
        if self._client is None:
            with _translated(self.name, "load WSDL"):
                self._client = zeep.Client(self.wsdl, transport=self._transport, settings=self._settings)
        return self._client

    @property
    def service(self) -> Any:
        """The WSDL's service, bound to the address the WSDL was loaded from (without
        ``?wsdl``): 1C writes into ``soap:address`` the host and scheme its web server saw,
        which behind a reverse proxy or TLS offloading is an internal ``http://`` name the
        bridge cannot reach. A WSDL read from a file keeps its own address."""
        if self._service is None:
            client, address = self.client, _endpoint(self.wsdl)
            default = client.service
            self._service = default if address is None else client.create_service(str(default._binding.name), address)
        return self._service

    def operations(self) -> list[str]:
        binding = self.service._binding
        return sorted(binding._operations)

    def call(self, operation: str, **params: Any) -> Any:
        """Call `operation`; the answer as plain dicts/lists with aware datetimes."""
        service = self.service
        if operation not in self.operations():
            raise OneCRejected(f"{self.name}: the web service has no operation {operation!r}; it offers {', '.join(self.operations())}")
        arguments: Mapping[str, Any] = {k: _wall_clock(v, self.tz) for k, v in params.items()}
        with _translated(self.name, operation):
            answer = getattr(service, operation)(**arguments)
        return _localise(serialize_object(answer, target_cls=dict), self.tz)

    def close(self) -> None:
        self.session.close()
