"""Webhook pings, decided: is a ping genuine, and which records does it name. Pure: no
clock, no store, no sockets (``pings.py`` is the edge, ``webhook_server.py`` the listener).

A ping is only a hint: the record it names is read again through the connector, so a
forged or stale body can make us read, never write. Still, a ping that is not verified
is refused (401), or anyone could make the bridge hammer the CRM.

Bodies come as JSON or as a form (``application/x-www-form-urlencoded``) with PHP-style
brackets, as Bitrix24 and amoCRM send them::

    event=ONCRMDEALUPDATE&data[FIELDS][ID]=759&ts=1736405807&auth[application_token]=…
    leads[update][0][id]=30012&leads[update][0][status_id]=142&account[subdomain]=acme

both read as nested objects (``data.FIELDS.ID``; ``leads.update.0.id``).

Example::

    parsed = parse_body("application/json", b'{"event": "ticket.updated", "id": 7}')
    reason = verify(spec.verify, headers, raw, parsed, query={}, now=now)   # None: genuine
    keys = pinged(spec, parsed)                                              # [("tickets", "7")]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from adapters.generic_rest.connector import HmacVerify, TokenVerify, Webhooks
from adapters.generic_rest.select import MISSING, parse_path, select

__all__ = ["parse_body", "pinged", "select_all", "sign", "verify"]

_BRACKETS = re.compile(r"\[([^\]]*)\]")


def parse_body(content_type: str, body: bytes) -> Any:
    """The ping's body as JSON or as a bracketed form, nested.

    Raises:
        ValueError: neither JSON nor a form.
    """
    text = body.decode("utf-8")
    if "json" in content_type.lower() or text.lstrip()[:1] in ("{", "["):
        return json.loads(text)
    if not text.strip():
        return {}
    nested: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, strict_parsing=True):
        head, _, tail = name.partition("[")
        steps = [head, *_BRACKETS.findall("[" + tail)] if tail else [head]
        here = nested
        for step in steps[:-1]:
            nxt = here.setdefault(step, {})
            if not isinstance(nxt, dict):
                msg = f"form field {name!r} nests under a plain value"
                raise ValueError(msg)  # noqa: TRY004 - a malformed body, said as parse errors are
            here = nxt
        here[steps[-1]] = value
    return nested


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>``: what a sender puts in the signature header."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _fresh(stamp: Any, tolerance: float, now: datetime) -> str | None:
    try:
        at = float(stamp)
    except (TypeError, ValueError):
        return "the timestamp is not unix seconds"
    drift = abs(now.timestamp() - at)
    return None if drift <= tolerance else f"the timestamp is {drift:.0f} s away from now (tolerance {tolerance:.0f} s)"


def verify(spec: HmacVerify | TokenVerify, headers: Mapping[str, str], body: bytes, parsed: Any, *,
           query: Mapping[str, str], now: datetime) -> str | None:
    """None if the ping is genuine, else why not (never quoting a secret or a signature)."""
    secret = spec.secret.get_secret_value()
    if not secret:  # ${VAR:-} left empty: the connector takes no pings until a secret is set
        return "the connector's webhook secret is empty: set it to take pings"
    if isinstance(spec, HmacVerify):
        stamp = _header(headers, spec.timestamp_header)
        given = _header(headers, spec.signature_header)
        if stamp is None or given is None:
            return f"no {spec.signature_header} or {spec.timestamp_header} header"
        stale = _fresh(stamp, spec.tolerance, now)
        if stale:
            return stale
        expected = sign(secret, stamp, body)
        return None if hmac.compare_digest(given.strip().removeprefix("sha256="), expected) else "the signature does not match"
    if spec.query is not None:
        token = query.get(spec.query)
        where = f"query parameter {spec.query}"
    else:
        found = select(parsed, parse_path(spec.field or ""))
        token = None if found is MISSING else str(found)
        where = f"field {spec.field}"
    if token is None:
        return f"no token in the {where}"
    if not hmac.compare_digest(token.encode(), secret.encode()):
        return f"the token in the {where} does not match"
    if spec.timestamp is not None:
        stamp = select(parsed, parse_path(spec.timestamp))
        return "no timestamp" if stamp is MISSING else _fresh(stamp, spec.tolerance, now)
    return None


def select_all(body: Any, path: tuple[str | int, ...]) -> list[Any]:
    """Every value at `path`, where a ``*`` step goes over each entry of an object or a list."""
    if not path:
        return [body]
    step, rest = path[0], path[1:]
    if step == "*":
        entries = body.values() if isinstance(body, dict) else body if isinstance(body, list) else []
        return [v for entry in entries for v in select_all(entry, rest)]
    here = select(body, (step,))
    return [] if here is MISSING else select_all(here, rest)


def _matches(parsed: Any, when: Mapping[str, str | list[str]]) -> bool:
    for where, wanted in when.items():
        found = select(parsed, parse_path(where))
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if found is MISSING or str(found) not in allowed:
            return False
    return True


def pinged(spec: Webhooks, parsed: Any) -> list[tuple[str, str]]:
    """The (resource, key) pairs a ping names, each once, in the order found."""
    found: dict[tuple[str, str], None] = {}
    for rule in spec.pings:
        if _matches(parsed, rule.when):
            for key in select_all(parsed, parse_path(rule.key)):
                if key not in (None, "") and not isinstance(key, dict | list):
                    found[(rule.resource, str(key))] = None
    return list(found)
