"""The Telegram channel through the Bot API: ``POST <base_url>/bot<token>/sendMessage``
with ``chat_id``, ``text`` and ``parse_mode: HTML`` (Telegram's tags: b, i, u, s, a, code,
pre, blockquote; ``<``, ``>`` and ``&`` escaped elsewhere — the template is autoescaped).

The answer is ``{"ok": true, "result": {"message_id": 7}}`` or ``{"ok": false,
"error_code": N, "description": "...", "parameters": {...}}``, translated here:

* 429 — ``RetryAfter(parameters.retry_after)``: Telegram says how long to wait;
* 403 ("bot was blocked by the user", "bot is not a member of the channel chat") and
  400 ("chat not found", a malformed message) — parked with Telegram's description;
* 401 (the token revoked) and 404 (no such bot: a wrong token) — every Telegram message
  waits for an administrator (no attempts spent);
* 5xx and no answer — retried with back-off.

The token is a secret: it is in the URL's path, which every message shows as ``bot***``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import requests

from crm_bridge.errors import RemoteError
from crm_bridge.http import exchange
from notify.channels import Outcome, Parked, RetryAfter, Sent
from notify.outgoing import Outgoing
from notify.settings import TelegramChannel
from notify.templates import Rendered, Templates

__all__ = ["MAX_TEXT", "TelegramSender", "render_telegram"]

MAX_TEXT = 4096  # characters of a message's text after entity parsing; longer is refused
GENERIC = "telegram.html"  # per language: the message around the mail's subject and text


def render_telegram(templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
    """The mail's subject and text, in ``<lang>/<event>.telegram.html`` if you saved one,
    else ``<lang>/telegram.html`` (autoescaped HTML with Telegram's tags)."""
    mail = templates.render(event, lang, context)
    own = f"{lang}/{event}.telegram.html"
    name = own if templates.exists(own) else f"{lang}/{GENERIC}"
    html = templates.render_file(name, {**context, "subject": mail.subject, "text": mail.text.strip()}).strip()
    if len(html) > MAX_TEXT:  # cut at a line break of the text part (the shipped template's tags close on line 1)
        html = html[:MAX_TEXT - 1].rsplit("\n", 1)[0] + "…"
    return Rendered(mail.subject, html, html)


class TelegramSender:
    """The ``telegram`` channel. Example::

        sender = TelegramSender(config.telegram)
        sender.send([claim])          # claim.recipient: the chat id ("-1001234567890" or "@channel")
    """

    name = "telegram"
    folds = False

    def __init__(self, config: TelegramChannel) -> None:
        self.config = config
        self.session = requests.Session()

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        return render_telegram(templates, event, lang, context)

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        return [self._one(claim) for claim in batch]

    def close(self) -> None:
        self.session.close()

    def _one(self, claim: Outgoing) -> Outcome:
        c = self.config
        token = c.token.get_secret_value()
        try:
            answer = exchange(self.session, "POST", f"{c.base_url}/bot{token}/sendMessage", backend="Telegram",
                              what="send a message", timeout=(5.0, c.timeout), total=c.timeout * 2, max_bytes=1 << 20,
                              json={"chat_id": claim.recipient, "text": claim.rendered.text, "parse_mode": "HTML",
                                    "link_preview_options": {"is_disabled": True}}, hide=(token,))
        except RemoteError as exc:
            return RetryAfter(exc.retry_after, str(exc))
        try:
            body = json.loads(answer.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if answer.status >= 500 or answer.status == 429:
                return RetryAfter(None, f"Telegram answered HTTP {answer.status}; will retry")
            return Parked(f"Telegram answered HTTP {answer.status} without JSON")
        if body.get("ok") is True:
            message_id = (body.get("result") or {}).get("message_id")
            return Sent(f"Telegram message {message_id}")
        code = int(body.get("error_code") or answer.status)
        said = f"Telegram answered {code} {body.get('description') or ''}".rstrip()
        parameters = body.get("parameters") or {}
        if code == 429:
            wait = parameters.get("retry_after")
            return RetryAfter(float(wait) if isinstance(wait, int | float) else None, f"{said}; will retry")
        if code in (401, 404):
            return RetryAfter(None, f"{said}: the bot token is wrong or revoked; check notify.telegram.token; will retry",
                              administrative=True)
        if code >= 500:
            return RetryAfter(None, f"{said}; will retry")
        if "migrate_to_chat_id" in parameters:
            return Parked(f"{said}: the group became a supergroup; write telegram:{parameters['migrate_to_chat_id']}")
        return Parked(said)
