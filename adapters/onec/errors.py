"""1C errors, typed by what the caller does next, and the one place library and HTTP
faults become ours (``translated`` and ``raise_for_response``).

Retryable (``retryable``: the outbox backs off, reads retry in place on
``OneCUnavailable``): ``OneCUnavailable`` — timeouts, 408/429/502/503/504, a 500 that is not
a handler's, broken bodies — and ``OneCVersionConflict``; also the ``OneCAdministrative``
ones (``OneCAuthFailed``, ``OneCNotPublished``, ``OneCRequestTooLong``), waiting at least
``CONFIG_FAULT_WAIT``: an administrator fixes those, not the data, and the rows must
still be there when they do. Also administrative: ``OneCAnswerTooLarge`` (an answer over ``max_answer_mb``) and
``OneCNoProgress`` (a paging pass that does not move: 1C or a proxy ignoring ``$filter``).
An answer of 2xx whose body is 1C's ``odata.error`` is that error, not a result
(``raise_for_error_body``). Fatal (parked with
the reason): ``OneCNotFound``, ``OneCAccessDenied``, ``OneCBusinessError`` (500 code -1), any other
``OneCRejected``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import ClassVar
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import requests
import urllib3

from adapters.onec.dtd import declares_dtd
from crm_bridge.errors import RemoteBusy, RemoteRejected, RemoteStoredOtherwise, RemoteUnavailable
from crm_bridge.http import retry_after

__all__ = [
    "OneCAccessDenied",
    "OneCAdministrative",
    "OneCAnswerTooLarge",
    "OneCAuthFailed",
    "OneCBusinessError",
    "OneCBusy",
    "OneCLate",
    "OneCNoProgress",
    "OneCNotFound",
    "OneCNotPublished",
    "OneCRejected",
    "OneCRequestTooLong",
    "OneCSilent",
    "OneCStoredOtherwise",
    "OneCUnavailable",
    "OneCVersionConflict",
    "no_answer",
    "error_in_body",
    "error_of",
    "raise_for_error_body",
    "raise_for_response",
    "retry_after_seconds",
    "transient",
    "translated",
]


class OneCUnavailable(RemoteUnavailable):
    """1C did not answer in time, answered 5xx/429/503, or sent a broken body: retry."""


class OneCBusy(OneCUnavailable, RemoteBusy):
    """1C (or IIS in front of it) answered 429 or 503: overloaded, or the base is being
    updated. Write-back to the whole backend waits, honouring Retry-After."""


class OneCLate(OneCUnavailable):
    """An exchange that passed ``timeout.total`` (headers or body trickled, each byte within
    ``timeout.read``): cut off, retried like any ``OneCUnavailable``."""


class OneCSilent(OneCUnavailable):
    """Connected, but 1C sent nothing within ``timeout.read``: an overloaded publication, or
    a port where something accepts connections and never answers. Retried by unattended
    runs like any ``OneCUnavailable``; a command a person waits for says it at once
    (``crm_bridge.interactive``)."""


class OneCRejected(RemoteRejected):
    """1C refused the request (4xx, an ``odata.error``): retrying the same call will not help."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status = code, status


#: how long the outbox waits, at least, before trying again after a configuration fault
CONFIG_FAULT_WAIT = 60.0


class OneCAdministrative(OneCRejected):
    """A refusal an administrator fixes, not the data: retrying the same call does not help
    now, but the rows are kept and retried after at least ``CONFIG_FAULT_WAIT`` seconds, so
    they are delivered once the configuration or the publication is fixed."""

    retryable: ClassVar[bool] = True
    administrative: ClassVar[bool] = True

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = CONFIG_FAULT_WAIT


class OneCAuthFailed(OneCAdministrative):
    """401: wrong login or password (the login must be sent as UTF-8); also a passing
    IIS/AD refusal."""


class OneCAccessDenied(OneCRejected):
    """403 or 1C's code 20: the OData user's roles (or row-level security) do not allow
    this read or write. Refused like the data's fault, not held as an administrator's: a
    row-level refusal of one record must park that record, not hold the whole outbox."""


class OneCRequestTooLong(OneCAdministrative):
    """414, or IIS's 404.15: the web server in front of 1C refused the URL as too long."""


class OneCAnswerTooLarge(OneCAdministrative):
    """An answer longer than the backend's ``max_answer_mb``: read no further (it is streamed
    and cut off), kept and retried like a configuration fault — lower ``page_size`` or raise
    the cap."""


class OneCNoProgress(OneCAdministrative):
    """A paging pass that does not advance: a page repeating keys already read (1C, or a
    proxy rewriting the URL, ignored ``$filter``), or more pages than the set's count
    allows. The pass stops instead of reading the same page forever."""


class OneCNotFound(OneCRejected):
    """404 code 9: no record with this key."""


class OneCNotPublished(OneCAdministrative):
    """404 on an entity set (or a web service): it is not in the publication."""


class OneCVersionConflict(OneCUnavailable):
    """The record changed in 1C after we read it: HTTP 409/412 (an ``If-Match`` honoured
    by a proxy or a newer platform) or a custom service's ``КонфликтВерсий``.

    Retryable: the next attempt re-reads the record, merges what the 1C user changed
    and sends only what still differs.
    """

    def __init__(self, message: str, *, current_version: str | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class OneCBusinessError(OneCRejected):
    """500 code -1: a 1C handler (ПередЗаписью, ПриЗаписи, posting) raised."""


class OneCStoredOtherwise(OneCRejected, RemoteStoredOtherwise):
    """1C answered 200/201 to a write but its answer holds other values than were sent (a
    string cut to the attribute's length, a number rounded, a field 1C does not have):
    parked with what 1C stored, never recorded as sent (``adapters.onec.stored``)."""

    def __init__(self, message: str, *, remote_id: str, version: str | None, fields: Sequence[str]) -> None:
        RemoteStoredOtherwise.__init__(self, message, remote_id=remote_id, version=version, fields=fields)
        self.code, self.status = None, None


#: phrases of a 1C error text that mean "try again later": a lock conflict, an object
#: another session holds, a session the administrator ended, a base being restarted or
#: blocked, a wait that ran out — whole phrases, so "недоступен для изменения" or
#: "заблокирован для выбора" (refusals of the data) are not taken for them
_TRANSIENT = ("конфликт блокировок", "ошибка блокировки", "взаимоблокировк", "заблокирован другим",
              "объект заблокирован", "объектзаблокирован", "lock conflict", "deadlock", "сеанс работы завершен",
              "session terminated", "база заблокирована", "перезапуск", "временно недоступ", "service unavailable",
              "время ожидания", "timed out", "timeout expired")


def transient(text: str) -> bool:
    """Whether a 1C error text (a SOAP Fault's, a service's ``КодОшибки``/``ТекстОшибки``)
    names a passing condition rather than the data."""
    lowered = text.lower()
    return any(phrase in lowered for phrase in _TRANSIENT)


def _error_of(response: requests.Response) -> tuple[str | None, str]:
    """1C's error code and text: from its JSON ``odata.error``, or its XML ``<error>``."""
    text = response.content.decode("utf-8-sig", errors="replace")
    try:
        found = error_of(json.loads(text))
    except ValueError:
        found = None
    if found is not None:
        return found
    found = _xml_error(response.content.removeprefix(b"\xef\xbb\xbf"))
    return found if found is not None else (None, text[:300].strip())


def error_of(body: object) -> tuple[str | None, str] | None:
    """(code, text) of a decoded JSON body that is 1C's ``odata.error``; None for any other."""
    err = body.get("odata.error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    message = err.get("message")
    text = message.get("value", "") if isinstance(message, dict) else message or ""
    return str(err.get("code")), str(text)


def raise_for_error_body(backend: str, what: str, status: int, code: str | None, message: str) -> None:
    """A 2xx answer whose body is 1C's ``odata.error`` (a proxy or a 1C extension answering
    200 over an error): the error it holds, with 1C's text, never a result. A passing
    condition in the text is retried; 1C's codes for "no such record" and "no right" are
    what they say; anything else is 1C refusing the call (parked with its text)."""
    where = f"{backend}: {what}"
    said = f"1C answered HTTP {status} with an error (1C code {code}): {message}"
    if transient(message):
        raise OneCUnavailable(f"{where}: {said}; will retry")
    if code == "20":
        raise OneCAccessDenied(f"{where}: {said}; give the OData user a role with the right on the object",
                               code=code, status=status)
    if code == "9":
        raise OneCNotFound(f"{where}: no such record in 1C ({said})", code=code, status=status)
    if code == "-1":
        raise OneCBusinessError(f"{where}: {said}", code=code, status=status)
    raise OneCRejected(f"{where}: {said}", code=code, status=status)


def error_in_body(content: bytes) -> tuple[str | None, str] | None:
    """(code, text) of a body that is 1C's error, JSON ``odata.error`` or XML ``<error>``,
    whatever the status said; None for any other body (a document expected in XML, such
    as ``$metadata``, that came back as an error answered with 200)."""
    content = content.removeprefix(b"\xef\xbb\xbf")
    if content.lstrip()[:1] == b"{":
        try:
            return error_of(json.loads(content.decode("utf-8", errors="replace")))
        except ValueError:
            return None
    return _xml_error(content)


def _xml_error(content: bytes) -> tuple[str | None, str] | None:
    """``<error><code/><message/></error>``: how 1C answers a call made without
    ``$format=json`` (``$metadata``, ``SelectChanges``); None for any other body."""
    if not content.lstrip().startswith(b"<") or declares_dtd(content):
        return None
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        return None
    if root.tag.rsplit("}", 1)[-1] != "error":
        return None
    parts = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
    return parts.get("code") or None, parts.get("message", "")


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (``crm_bridge.http.retry_after``: capped at an hour)."""
    return retry_after(value, now=now)


def raise_for_response(backend: str, response: requests.Response, what: str) -> None:
    """Turn a non-2xx answer into the typed error; do nothing for 2xx."""
    status = response.status_code
    if status < 400:
        return
    code, message = _error_of(response)
    where = f"{backend}: {what}"
    # 408/429/502/503/504: 1C (or IIS in front of it) is busy, restarting or gave up waiting
    # for the request, whatever the body
    # says. A 500 with code -1 is a 1C handler refusing the data, unless its text names a
    # passing condition: a lock conflict with a 1C user writing the same object, a base
    # being restarted (1C reports those as -1 too). Any other 500 is a fault.
    if status in (408, 429, 502, 503, 504) or (status >= 500 and (code != "-1" or transient(message))):
        delay = retry_after_seconds(response.headers.get("Retry-After"))
        kind = OneCBusy if status in (429, 503) else OneCUnavailable
        raise kind(f"{where}: HTTP {status} {message}; will retry", retry_after=delay)
    if status in (409, 412):
        raise OneCVersionConflict(f"{where}: the record changed in 1C since it was read (HTTP {status} {message}); "
                                  "it is read again and the change re-sent")
    if status == 401:
        raise OneCAuthFailed(
            f"{where}: 1C refused the login (HTTP 401); check username/password in the backend configuration",
            code=code, status=status,
        )
    if status == 414 or (status == 404 and b"404.15" in response.content):
        length = len(urlsplit(response.request.url or "").query) if response.request is not None else 0
        raise OneCRequestTooLong(
            f"{where}: the web server in front of 1C refused a query string of {length} bytes as too long "
            f"(HTTP {404.15 if status == 404 else status}); set max_query_string in the backend configuration to its "
            "limit, or raise the limit (IIS: requestFiltering/requestLimits maxQueryString; Apache: LimitRequestLine)",
            code=code, status=status,
        )
    if status == 403 or code == "20":
        raise OneCAccessDenied(
            f"{where}: the 1C user may not do this (HTTP {status}, 1C code {code}: {message}); give the OData user a "
            "role with the right on the object (Администрирование → Пользователи и права)",
            code=code, status=status,
        )
    if status == 404 and code == "9":
        raise OneCNotFound(f"{where}: no such record in 1C ({message})", code=code, status=status)
    if status == 404:
        raise OneCNotPublished(
            f"{where}: not published (HTTP 404 {message}); add the object to the standard OData interface "
            "content in 1C (Администрирование → Настройка стандартного интерфейса OData)",
            code=code, status=status,
        )
    if code == "-1":
        raise OneCBusinessError(f"{where}: 1C raised an error: {message}", code=code, status=status)
    raise OneCRejected(f"{where}: HTTP {status}, 1C code {code}: {message}", code=code, status=status)


@contextmanager
def translated(backend: str, what: str, *, read_timeout: float | None = None) -> Iterator[None]:
    """Connection faults and timeouts from requests become ``OneCUnavailable``; so do
    urllib3's and the socket's, met while a body is streamed (a read timeout, a
    connection closed before the announced length). `read_timeout`: the seconds a
    silent server was given, for the message."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise no_answer(backend, what, exc, read_timeout=read_timeout) from exc
    except requests.RequestException as exc:
        raise OneCUnavailable(f"{backend}: {what}: {type(exc).__name__}: {exc}") from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise OneCUnavailable(f"{backend}: {what}: the answer stopped for longer than timeout.read; will retry") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise OneCUnavailable(f"{backend}: {what}: the answer broke off ({type(exc).__name__}: {exc}); will retry") from exc


def no_answer(backend: str, what: str, exc: requests.RequestException, *,
              read_timeout: float | None = None) -> OneCUnavailable:
    """A connection that failed or timed out, said with the host and the likely cause; a
    server that accepted the connection and said nothing is ``OneCSilent``."""
    url = getattr(exc.request, "url", None) or ""
    host = urlsplit(url).netloc.rpartition("@")[2] if url else ""
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        cause = "connecting timed out (timeout.connect): is the host up and reachable from here?"
    elif isinstance(exc, requests.ReadTimeout):
        waited = f"in {read_timeout:g} s" if read_timeout is not None else "within timeout.read"
        return OneCSilent(f"{backend}: {what}: no answer{f' from {host}' if host else ''}: connected, but 1C did not "
                          f"answer {waited} (publication overloaded or the wrong port?); check the url's port, or raise "
                          "timeout.read if the base is only slow; will retry")
    elif "Connection refused" in text:
        cause = "connection refused: nothing listens there; check the host and port in url and that the web server runs"
    elif any(sign in text for sign in ("NameResolutionError", "Name or service not known", "Failed to resolve",
                                       "nodename nor servname", "getaddrinfo failed")):
        cause = "the host name does not resolve; check url"
    elif any(sign in text for sign in ("RemoteDisconnected", "Connection aborted", "Connection reset")):
        cause = "the server closed the connection without an answer"
    else:
        cause = type(exc).__name__
    return OneCUnavailable(f"{backend}: {what}: no answer{f' from {host}' if host else ''} ({cause}); will retry")
