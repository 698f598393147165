"""One HTTP exchange with a remote system, bounded: connect, each read, the whole answer,
and its size.

Adapters talk to CRMs through ``exchange``: the body is streamed and read up to
``max_bytes`` and until ``total`` seconds after sending, whatever the server does (a
body trickled a byte at a time under the read timeout, a page of hundreds of megabytes).
A failure is a ``RemoteUnavailable`` naming the address without its query string or login
(secrets travel there: API keys, Bitrix24's webhook token) — retried by the caller's
policy — or an ``AnswerTooLarge`` naming the setting to raise. ``retry_after`` reads a
``Retry-After`` header (the one parser of it: adapters and notify's channels use it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

from crm_bridge.errors import RemoteRejected, RemoteUnavailable
from crm_bridge.watchdog import Watchdog, watch_session

if TYPE_CHECKING:
    from requests.sessions import _Settings

__all__ = ["MAX_RETRY_AFTER", "Answer", "AnswerTooLarge", "NoAnswer", "SettledSession", "exchange", "read_capped",
           "request_headers", "retry_after", "shown"]

_CHUNK = 1 << 16
#: the longest wait a remote's Retry-After can impose: a header cannot stop the bridge for a day
MAX_RETRY_AFTER = 3600.0


class SettledSession(requests.Session):
    """A ``requests.Session`` that reads the environment's proxies (``*_proxy``, ``no_proxy``)
    once per origin and its CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) once,
    not on every request as requests does: it walks all of ``os.environ`` twice a call —
    about 0.8 ms of CPU a request against a local 1C, a third of the client's cost of a
    create. The settings are requests' own (``Session.merge_environment_settings``); a
    process's environment does not change under a running bridge, so reading it once
    gives the same answers. With ``trust_env`` off nothing is read, as in requests.

    The merged settings of a call that names none of its own (no proxies, ``verify`` and
    ``cert`` left to the session: every call of the OData client) are kept per origin
    too, with the session's own settings they came from: requests' ``merge_setting``
    checks its arguments against typing Protocols, some 20 µs a call."""

    def __init__(self) -> None:
        super().__init__()
        self._proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self._bundle: list[str | None] = []  # the CA bundle the environment names, once read
        self._merged: dict[tuple[Any, ...], _Settings] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> _Settings:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if proxies or verify is not None or cert is not None:
            return self._settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        # what the answer depends on: the origin, and the session's settings, which a caller may change
        key = (parts.scheme, parts.netloc, proxies is None, stream, self.stream, self.verify, self.cert,
               tuple(self.proxies.items()))
        try:
            found = self._merged.get(key)
        except TypeError:  # a setting that cannot be a key (a list as cert): worked out every time
            return self._settings(url, proxies, stream, verify, cert)
        if found is None:
            found = self._merged[key] = self._settings(url, proxies, stream, verify, cert)
        return {**found, "proxies": dict(found["proxies"])}  # the caller's own: requests may add to it

    def _settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> _Settings:
        """requests' merge of a call's settings with the environment's (read once) and the session's."""
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc, no_proxy)  # requests decides by scheme, host and port alone
        found = self._proxies.get(origin)
        if found is None:
            found = self._proxies[origin] = get_environ_proxies(url, no_proxy=no_proxy)
        if proxies is not None:
            for scheme, proxy in found.items():
                proxies.setdefault(scheme, proxy)
        if verify is True or verify is None:
            if not self._bundle:
                self._bundle.append(os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"))
            verify = self._bundle[0] or verify
        merge: Callable[[Any, Any], Any] = merge_setting  # requests' own merge of a call's and the session's
        return {"proxies": merge(proxies, self.proxies), "stream": merge(stream, self.stream),
                "verify": merge(verify, self.verify), "cert": merge(cert, self.cert)}


class AnswerTooLarge(RemoteRejected):
    """An answer over the backend's size cap: not read further (not retried: it would be as large again)."""


class NoAnswer(RemoteUnavailable):
    """The request went out but its answer did not come (a read timeout, an answer cut off
    or late): the remote may have acted on it. A caller whose request is not idempotent
    (an SMS costs money) may choose not to send it again."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def shown(url: str, *, hide: tuple[str, ...] = ()) -> str:
    """`url` fit for a message: no query string, no login, and each of `hide` (a secret in
    the path, e.g. a URL token) replaced by ``***``."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    for secret in hide:
        if secret:
            path = path.replace(secret, "***")
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}" if parts.scheme else "(unknown address)"


def retry_after(value: str | None, *, now: datetime | None = None, cap: float = MAX_RETRY_AFTER) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait: delta-seconds or an HTTP date (one
    without a zone read as UTC), at least 0 and at most `cap`; None when absent or unreadable.

    Example: ``retry_after("120") == 120.0``; ``retry_after("9999999999999") == 3600.0``.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


def read_capped(response: requests.Response, *, deadline: float, max_bytes: int,
                late: Callable[[int], Exception], too_large: Callable[[str], Exception]) -> bytes:
    """The whole body of a streamed `response` (``stream=True``), decoded from any
    ``Content-Encoding``, and closed after.

    ``read1`` returns whatever has arrived, so the monotonic `deadline` is checked between
    arrivals however slowly they come; the socket's read timeout still bounds a silence,
    and the exchange's watchdog (``crm_bridge.watchdog``) a read blocked at the deadline:
    an answer it cut is reported as late (``late(bytes arrived)``), never returned shorter.
    More than `max_bytes`, announced or received, raises ``too_large(what was seen)``.
    """
    if getattr(response, "_content_consumed", False):  # a response hook of the session read it already: take what it read
        return response.content
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large(f"announces {int(declared):,} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise late(size)
            try:
                chunk = response.raw.read1(_CHUNK, decode_content=True)
            except Exception as exc:
                if time.monotonic() >= deadline:  # the watchdog shut the socket at the deadline
                    raise late(size) from exc
                raise
            if not chunk:
                if time.monotonic() >= deadline:  # cut by the watchdog, not ended by the server
                    raise late(size)
                return b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                raise too_large(f"ran past {max_bytes:,} bytes")
            chunks.append(chunk)
    finally:
        response.close()


def exchange(session: requests.Session, method: str, url: str, *, backend: str, what: str,
             timeout: tuple[float, float], total: float, max_bytes: int, cap_setting: str = "max_answer_mb",
             params: Mapping[str, Any] | None = None, json: Any = None, data: Any = None,
             headers: Mapping[str, str] | None = None, hide: tuple[str, ...] = ()) -> Answer:
    """Send one request and read its whole answer within the bounds (any status).

    Raises:
        NoAnswer: sent, but no complete answer: a read timeout, an answer broken off or not
            complete in `total` s (a ``RemoteUnavailable``: retried like one unless the caller says otherwise).
        RemoteUnavailable: no connection, or a connection that failed (before or during the answer: not told apart).
        AnswerTooLarge: the body is over `max_bytes`.
    """
    where = shown(url, hide=hide)
    connect, read = timeout
    deadline = time.monotonic() + total

    def late(size: int) -> NoAnswer:
        return NoAnswer(f"{backend}: {what}: the answer from {where} was not complete within {total:g} s "
                        f"({size:,} bytes had arrived); will retry")

    with Watchdog(total) as dog:
        try:
            response = watch_session(session).request(
                method, url, params=params, json=json, data=data, headers=request_headers(headers), stream=True,
                timeout=(connect, min(read, total)))
            body = read_capped(response, deadline=deadline, max_bytes=max_bytes, late=late,
                               too_large=lambda said: _too_large(backend, what, where, max_bytes, cap_setting, said))
        except requests.Timeout as exc:
            if dog.fired:
                raise late(0) from exc
            msg = f"{backend}: {what}: {where} did not answer in {min(read, total):g} s; will retry"
            if isinstance(exc, requests.ConnectTimeout):  # nothing was sent
                raise RemoteUnavailable(msg) from exc
            raise NoAnswer(msg) from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if dog.fired:
                raise late(0) from exc
            msg = f"{backend}: {what}: cannot reach {where}, or its answer broke off ({type(exc).__name__}); will retry"
            raise RemoteUnavailable(msg) from exc
        if dog.fired:  # the last bytes may be missing: an answer cut by the watchdog is no answer
            raise late(len(body))
    return Answer(response.status_code, response.headers, body, response.url)


def request_headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """A call's headers as requests takes them; None when there are none: requests then
    uses the session's as they are instead of merging an empty dict into them (the same
    headers are sent, without a merge that costs tens of microseconds a call)."""
    return dict(headers) if headers else None


def _too_large(backend: str, what: str, where: str, max_bytes: int, setting: str, said: str) -> AnswerTooLarge:
    mb = max(max_bytes >> 20, 1)
    return AnswerTooLarge(f"{backend}: {what}: the answer from {where} {said}: it is over {mb} MB, the {setting} of this "
                          f"backend, and was not read further; raise {setting} if answers this large are expected")
