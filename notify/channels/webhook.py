"""The webhook channel: each notification POSTed as JSON to a configured URL, signed.

Headers (for receivers; notify/README.md has a verification example)::

    Content-Type: application/json; charset=utf-8
    X-CRM-Bridge-Event: sla_breach
    X-CRM-Bridge-Delivery: <4f0c...@support.example.ru>   # the same on every attempt: dedupe on it
    X-CRM-Bridge-Signature: t=1799999999,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is part of what is signed, so a receiver rejecting signatures older than a
few minutes is safe from replays; ``t`` is the time of each POST (not the dispatch pass's
start). Answers: 2xx sent; 429, 408 and 5xx retried, not before their Retry-After when
they give one (at most an hour), else with back-off, as is no answer; any other status
parked (the receiver refuses it: fix it, then retry the row).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from crm_bridge.errors import RemoteError
from crm_bridge.http import exchange, retry_after, shown
from notify.channels import Outcome, Parked, RetryAfter, Sent, outcome_of
from notify.outgoing import Outgoing
from notify.settings import Webhook
from notify.templates import Rendered, Templates

__all__ = ["SIGNATURE", "WebhookSender", "body_of", "sign", "verify"]

SIGNATURE = "X-CRM-Bridge-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<body>">``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float, *, tolerance: float = 300.0) -> bool:
    """A receiver's check of ``X-CRM-Bridge-Signature`` (what notify/README.md shows):
    a ``v1`` matches the HMAC of ``"<t>.<body>"`` and ``t`` is within `tolerance` s of `now`."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if not parts.get("t", "").isdigit() or abs(now - int(parts["t"])) > tolerance:
        return False
    expected = sign(secret, int(parts["t"]), body).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def body_of(claim: Outgoing) -> bytes:
    """The JSON a receiver gets: the notification's id, event, request and text."""
    payload = {"id": claim.message_id, "event": claim.event, "audience": claim.audience, "language": claim.language,
               "subject": claim.rendered.subject, "text": claim.rendered.text, **claim.facts}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=_iso).encode()


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    msg = f"{type(value).__name__} is not JSON"
    raise TypeError(msg)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookSender:
    """The ``webhook`` channel: a row's recipient is the URL of one of ``notify.webhooks``.

    Example::

        sender = WebhookSender(config.webhooks, clock=app.clock)
        sender.send([claim])       # POST, signed with that webhook's secret at clock()
    """

    name = "webhook"
    folds = 1

    def __init__(self, hooks: Sequence[Webhook], clock: Callable[[], datetime] = _utcnow) -> None:
        self.hooks = {h.url: h for h in hooks}
        self.clock = clock  # read at each POST: a pass can run longer than a receiver's tolerance
        self.session = requests.Session()

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        return templates.render(event, lang, context)  # subject and text travel in the JSON

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        return [self._one(claim) for claim in batch]

    def close(self) -> None:
        self.session.close()

    def _one(self, claim: Outgoing) -> Outcome:
        hook = self.hooks.get(claim.recipient)
        if hook is None:
            return Parked(f"no webhook {shown(claim.recipient)} in notify.webhooks any more; add it back, or leave the row")
        body = body_of(claim)
        headers = {"Content-Type": "application/json; charset=utf-8", "X-CRM-Bridge-Event": claim.event,
                   "X-CRM-Bridge-Delivery": claim.message_id,
                   SIGNATURE: sign(hook.secret.get_secret_value(), int(self.clock().timestamp()), body)}
        where = shown(hook.url)
        try:
            answer = exchange(self.session, "POST", hook.url, backend="webhook", what="deliver a notification",
                              timeout=(5.0, hook.timeout), total=hook.timeout * 2, max_bytes=1 << 20, data=body,
                              headers=headers)
        except RemoteError as exc:
            return outcome_of(exc)
        if 200 <= answer.status < 300:
            return Sent(f"{where} answered {answer.status}")
        said = f"{where} answered HTTP {answer.status}"
        if answer.status in (408, 429) or answer.status >= 500:
            return RetryAfter(retry_after(answer.headers.get("Retry-After"), now=self.clock()), f"{said}; will retry")
        return Parked(f"{said}: the receiver refuses the notification; fix the receiver, then retry the row")
