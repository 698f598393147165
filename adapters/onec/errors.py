"""1C errors, typed by what the caller does next, and the one place library and HTTP
faults become ours (``translated`` and ``raise_for_response``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from crm_bridge.errors import RemoteRejected, RemoteUnavailable

__all__ = [
    "OneCAuthFailed",
    "OneCBusinessError",
    "OneCNotFound",
    "OneCNotPublished",
    "OneCRejected",
    "OneCUnavailable",
    "raise_for_response",
    "translated",
]


class OneCUnavailable(RemoteUnavailable):
    """1C did not answer in time, answered 5xx/429/503, or sent a broken body: retry."""


class OneCRejected(RemoteRejected):
    """1C refused the request (4xx, an ``odata.error``): retrying the same call will not help."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class OneCAuthFailed(OneCRejected):
    """401: wrong login or password (the login must be sent as UTF-8)."""


class OneCNotFound(OneCRejected):
    """404 code 9: no record with this key."""


class OneCNotPublished(OneCRejected):
    """404 on an entity set: it is not in the standard OData interface content."""


class OneCBusinessError(OneCRejected):
    """500 code -1: a 1C handler (ПередЗаписью, ПриЗаписи, posting) raised."""


def _error_of(response: requests.Response) -> tuple[str | None, str]:
    text = response.content.decode("utf-8-sig", errors="replace")
    try:
        body = json.loads(text)
        err = body["odata.error"]
        return str(err.get("code")), str(err.get("message", {}).get("value", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, text[:300].strip()


def raise_for_response(backend: str, response: requests.Response, what: str) -> None:
    """Turn a non-2xx answer into the typed error; do nothing for 2xx."""
    status = response.status_code
    if status < 400:
        return
    code, message = _error_of(response)
    where = f"{backend}: {what}"
    # 429/502/503/504: 1C (or IIS in front of it) is busy or restarting, whatever the body
    # says; a 500 with code -1 is a 1C handler refusing the data, any other 500 a fault.
    if status in (429, 502, 503, 504) or (status >= 500 and code != "-1"):
        retry_after = response.headers.get("Retry-After")
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise OneCUnavailable(f"{where}: HTTP {status} {message}; will retry", retry_after=delay)
    if status == 401:
        raise OneCAuthFailed(
            f"{where}: 1C refused the login (HTTP 401); check username/password in the backend configuration",
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
def translated(backend: str, what: str) -> Iterator[None]:
    """Connection faults and timeouts from requests become ``OneCUnavailable``."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise OneCUnavailable(f"{backend}: {what}: no answer ({type(exc).__name__}); will retry") from exc
    except requests.RequestException as exc:
        raise OneCUnavailable(f"{backend}: {what}: {type(exc).__name__}: {exc}") from exc
