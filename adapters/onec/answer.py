"""What 1C answered: the body read within a deadline and a size cap, and its shape checked.

A status is not an answer. A proxy can answer 200 with an HTML page, 1C (or something in
front of it) 200 with an ``odata.error`` body, a server can trickle a body a byte at a
time — under ``timeout.read`` for every byte — or send a page of hundreds of megabytes.
So every body is streamed: read up to ``max_bytes`` and until a monotonic deadline (the
exchange's ``timeout.total``), then checked for what the call expects: for a read, JSON
that is not an error; for a PATCH or POST, the record itself, as JSON, with its key.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

import pydantic_core
import requests

from adapters.onec.damaged import lenient_json
from adapters.onec.errors import (
    OneCAnswerTooLarge,
    OneCLate,
    OneCUnavailable,
    error_of,
    raise_for_error_body,
)
from crm_bridge.http import read_capped, shown

__all__ = ["acknowledged", "decoded", "read_body", "record_of", "shown_url"]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def shown_url(response: requests.Response) -> str:
    """The answer's address without its query string or any login: fit for a message."""
    return shown(response.url or "")


def read_body(response: requests.Response, *, backend: str, what: str, deadline: float, max_bytes: int,
              total: float, cap_setting: str = "max_answer_mb") -> bytes:
    """The whole body of a streamed `response` (``stream=True``), decoded from any
    ``Content-Encoding``, and closed after.

    ``read1`` returns whatever has arrived, so the monotonic `deadline` is checked between
    arrivals however slowly they come; the socket's read timeout still bounds a silence,
    and the exchange's watchdog (``deadline.Watchdog``) a read blocked at the deadline:
    an answer it cut is reported as late, never returned shorter.

    Raises:
        OneCUnavailable: the deadline passed before the last byte (``timeout.total``).
        OneCAnswerTooLarge: more than `max_bytes` (announced or received), naming the
            address and `cap_setting`.
    """
    return read_capped(response, deadline=deadline, max_bytes=max_bytes,
                       late=lambda size: _late(response, backend, what, total, size),
                       too_large=lambda said: _too_large(response, backend, what, max_bytes, cap_setting, said))


def _late(response: requests.Response, backend: str, what: str, total: float, size: int) -> OneCLate:
    return OneCLate(
        f"{backend}: {what}: the answer from {shown_url(response)} was not complete within {total:g} s "
        f"(timeout.total; {size:,} bytes had arrived): a slow link, or a server or proxy trickling the "
        "answer; will retry — raise timeout.total if pages are large and the link slow")


def _too_large(response: requests.Response, backend: str, what: str, max_bytes: int, setting: str,
               said: str) -> OneCAnswerTooLarge:
    mb = max(max_bytes >> 20, 1)
    return OneCAnswerTooLarge(
        f"{backend}: {what}: the answer from {shown_url(response)} {said}: it is over {mb} MB, the {setting} of "
        f"this backend, and was not read further; lower page_size, or raise {setting} if answers this large are "
        "expected")


def decoded(backend: str, what: str, status: int, body: bytes, *, lenient: bool = False) -> Any:
    """The JSON value of a 2xx `body`; 1C's ``odata.error`` in it raises as that error.
    `lenient` (reads only): JSON broken only inside one record's text is read with that
    text marked damaged (``damaged.lenient_json``), so that record alone is refused.

    Raises:
        OneCUnavailable: an empty body, an HTML page (a proxy or the web server answered,
            not 1C) or broken JSON — passing, as a rule, so retried.
        OneCRejected: (and kin) the ``odata.error`` the body holds, with 1C's text
            (``errors.raise_for_error_body``).
    """
    content = body.removeprefix(codecs.BOM_UTF8)
    if not content.strip():
        raise OneCUnavailable(f"{backend}: {what}: 1C answered HTTP {status} with an empty body; will retry")
    if content.lstrip()[:1] == b"<":
        title = _TITLE.search(content[:4096])
        named = f" «{title.group(1).decode('utf-8', 'replace').strip()[:120]}»" if title else ""
        raise OneCUnavailable(
            f"{backend}: {what}: HTTP {status} with a page{named}, not 1C's JSON: a proxy or the web server "
            "in front of 1C answered instead of 1C; will retry")
    try:
        value = pydantic_core.from_json(content)  # a third faster than json
    except ValueError as exc:  # malformed JSON, or (a read, `lenient`) one record's text damaged: that record alone is refused
        if not lenient:  # a write's answer is checked against what was sent: a damaged one is asked again, not parked
            raise OneCUnavailable(f"{backend}: {what}: malformed JSON from 1C ({exc}); will retry") from exc
        try:
            value = lenient_json(content)
        except ValueError:
            raise OneCUnavailable(f"{backend}: {what}: malformed JSON from 1C ({exc}); will retry") from exc
    error = error_of(value)
    if error is not None:
        raise_for_error_body(backend, what, status, *error)
    return value


def record_of(backend: str, what: str, status: int, body: bytes, *, key: str | None = None) -> dict[str, Any]:
    """The record a PATCH or POST answer must be: a JSON object with its ``Ref_Key`` —
    the key written to, when `key` is given. Anything else means 1C did not show the
    write done, so it is not taken as done.

    Raises:
        OneCUnavailable: an answer that is not the record (empty, a page, a list, another
            record, no key): the write is tried again, after a fresh read.
        OneCRejected: (and kin) an ``odata.error`` body, with 1C's text.
    """
    value = decoded(backend, what, status, body)
    if not isinstance(value, dict):
        raise OneCUnavailable(
            f"{backend}: {what}: 1C answered HTTP {status} with a JSON {type(value).__name__}, not the record written; "
            "the write is not taken as done; will retry")
    found = value.get("Ref_Key")
    if not isinstance(found, str) or not found:
        raise OneCUnavailable(
            f"{backend}: {what}: 1C's answer (HTTP {status}) holds no Ref_Key, so it is not the record written "
            f"(keys: {', '.join(sorted(map(str, value))[:8]) or 'none'}); the write is not taken as done; will retry")
    if key is not None and found.lower() != key.lower():
        raise OneCUnavailable(
            f"{backend}: {what}: 1C's answer is record {found}, not the one written; the write is not taken as done; "
            "will retry")
    return value


def acknowledged(backend: str, what: str, status: int, body: bytes) -> None:
    """Check the answer to a call whose success has no body (DELETE, Post, Unpost: 1C answers
    200 or 204, empty): an empty body or JSON is taken; an ``odata.error`` raises with 1C's
    text, and a page (a proxy's, a login form) is not 1C having done it (``decoded``)."""
    if body.removeprefix(codecs.BOM_UTF8).strip():
        decoded(backend, what, status, body)
