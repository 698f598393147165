"""One HTTP exchange with 1C, bounded as a whole: from sending the request to the last byte.

``requests`` with ``stream=True`` returns once the headers are in, and its read timeout
bounds each wait for the next bytes, not the whole: a server (or a proxy) that sends the
status line and headers a byte every half second, each byte inside ``timeout.read``,
would keep the call waiting for as long as it likes before the body's own deadline
(``answer.read_body``) is even looked at. So every exchange runs under a **watchdog**:
a timer that, at ``timeout.total``, shuts down the socket the exchange uses (a blocked
read then returns at once), and the exchange fails with one clear line — "1C's answer did
not finish in N s" — whatever phase it was in (connecting, headers, body).

The watchdog and the watched connections are core's (``crm_bridge.watchdog``): the REST
adapter's exchanges use the same.

``bounded_exchange`` is the one way OData, ``$metadata``, exchange plans and SOAP (the
WSDL and every call) talk to 1C: watchdog, timeouts, streamed body within
``max_answer_mb``, library exceptions typed (``errors.translated``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import requests

from adapters.onec.answer import read_body, shown_url
from adapters.onec.errors import OneCLate, OneCUnavailable, translated
from crm_bridge.http import request_headers
from crm_bridge.watchdog import Watchdog, watch_session

__all__ = ["Watchdog", "bounded_exchange", "late", "watch_session"]


def late(backend: str, what: str, total: float, url: str = "") -> OneCLate:
    """The error of an exchange the watchdog cut."""
    where = f" from {url}" if url else ""
    return OneCLate(
        f"{backend}: {what}: 1C's answer{where} did not finish in {total:g} s (timeout.total): a busy 1C, a slow "
        "link, or a server or proxy trickling the status line, headers or body; will retry — raise timeout.total if "
        "answers are large and the link slow")


def bounded_exchange(session: requests.Session, method: str, url: str, *, backend: str, what: str,
                     timeout: tuple[float, float], total: float, max_bytes: int, cap_setting: str = "max_answer_mb",
                     data: bytes | None = None, headers: Mapping[str, str] | None = None) -> requests.Response:
    """One exchange, its body read whole into ``response.content`` (any status).

    Bounded by `timeout` (connect, each read), `total` seconds from sending to the last
    byte (the watchdog, then ``read_body``'s own deadline between arrivals), and
    `max_bytes` of body (`cap_setting` names the setting in the message).

    Raises:
        OneCUnavailable: no answer, a broken one, or not finished within `total`.
        OneCAnswerTooLarge: a body over `max_bytes`.
    """
    connect, read = timeout
    deadline = time.monotonic() + total
    with Watchdog(total) as dog:
        try:
            with translated(backend, what, read_timeout=min(read, total)):
                response = session.request(method, url, data=data, headers=request_headers(headers), stream=True,
                                           timeout=(connect, min(read, total)))
                body = read_body(response, backend=backend, what=what, deadline=deadline, total=total,
                                 max_bytes=max_bytes, cap_setting=cap_setting)
        except OneCUnavailable as exc:
            if dog.fired and not isinstance(exc, OneCLate):  # read_body's own names the bytes that had arrived
                raise late(backend, what, total) from exc
            raise
        if dog.fired:  # the last bytes may be missing: an answer cut by the watchdog is no answer
            raise late(backend, what, total, shown_url(response))
    response._content = body  # requests keeps a read body here; error parsing and callers read response.content
    return response
