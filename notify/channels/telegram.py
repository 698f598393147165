"""The Telegram channel through the Bot API: ``POST <base_url>/bot<token>/sendMessage``
with ``chat_id``, ``text`` and ``parse_mode: HTML`` (Telegram's tags: b, i, u, s, a, code,
pre, blockquote; ``<``, ``>`` and ``&`` escaped elsewhere — the template is autoescaped).

The answer is ``{"ok": true, "result": {"message_id": 7}}`` or ``{"ok": false,
"error_code": N, "description": "...", "parameters": {...}}``, translated here:

* 429 — ``RetryAfter(parameters.retry_after)``: Telegram says how long to wait (at most an hour);
* 403 ("bot was blocked by the user", "bot is not a member of the channel chat") and
  400 ("chat not found", a malformed message) — parked with Telegram's description;
* 401 (the token revoked) and 404 (no such bot: a wrong token) — every Telegram message
  waits for an administrator (no attempts spent);
* 5xx and no answer — retried with back-off. A read timeout after Telegram took the
  message is retried too: the chat may see it twice (see notify/README.md).

The token is a secret: it is in the URL's path, which every message shows as ``bot***``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import requests

from crm_bridge.errors import RemoteError
from crm_bridge.http import exchange, retry_after
from notify.channels import Outcome, Parked, RetryAfter, Sent, outcome_of
from notify.digest import digest_context
from notify.outgoing import Outgoing
from notify.settings import TelegramChannel
from notify.templates import DIGEST, Rendered, TemplateProblem, Templates

__all__ = ["DIGEST_AT_MOST", "MAX_TEXT", "TelegramSender", "render_telegram", "render_telegram_digest"]

log = logging.getLogger(__name__)
MAX_TEXT = 4096  # characters of a message's text after entity parsing; longer is refused
GENERIC = "telegram.html"  # per language: the message around the mail's subject and text
DIGEST_FILE = "telegram_digest.html"  # per language: several rows' subjects in one message
DIGEST_AT_MOST = 40  # rows a Telegram digest lists (40 subjects stay well under MAX_TEXT)


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


def render_telegram_digest(templates: Templates, context: dict[str, Any]) -> str:
    """One message for several rows: the mail digest's subject in bold, then each row's
    subject (``<lang>/telegram_digest.html``; `context` as ``notify.digest.digest_context``)."""
    lang = str(context["lang"])
    subject = " ".join(templates.render_file(f"{lang}/{DIGEST}.subject.txt", context).split())
    html = templates.render_file(f"{lang}/{DIGEST_FILE}", {**context, "subject": subject}).strip()
    return html if len(html) <= MAX_TEXT else html[:MAX_TEXT - 1].rsplit("\n", 1)[0] + "…"


class TelegramSender:
    """The ``telegram`` channel. Example::

        sender = TelegramSender(config.telegram)
        sender.send([claim])          # claim.recipient: the chat id ("-1001234567890" or "@channel")
    """

    name = "telegram"
    folds = DIGEST_AT_MOST

    def __init__(self, config: TelegramChannel, templates: Templates) -> None:
        self.config, self.templates = config, templates
        self.session = requests.Session()
        self.digests = 0  # messages that carried several rows

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        return render_telegram(templates, event, lang, context)

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        if len(batch) == 1:
            return [self._post(batch[0].recipient, batch[0].rendered.text)]
        try:
            text = render_telegram_digest(self.templates, digest_context(batch))
        except TemplateProblem:  # an edited digest template: the rows go alone rather than wait
            log.exception("Telegram digest to %s does not render, its %d rows go one by one", batch[0].recipient,
                          len(batch), extra={"event": "notify.dispatch.digest_template"})
            return [self._post(claim.recipient, claim.rendered.text) for claim in batch]
        outcome = self._post(batch[0].recipient, text)
        if isinstance(outcome, Sent):
            self.digests += 1
            outcome = Sent(f"in a Telegram digest ({outcome.note}) with {len(batch) - 1} more")
        return [outcome] * len(batch)

    def close(self) -> None:
        self.session.close()

    def _post(self, chat: str, text: str) -> Outcome:
        c = self.config
        token = c.token.get_secret_value()
        try:
            answer = exchange(self.session, "POST", f"{c.base_url}/bot{token}/sendMessage", backend="Telegram",
                              what="send a message", timeout=(5.0, c.timeout), total=c.timeout * 2, max_bytes=1 << 20,
                              json={"chat_id": chat, "text": text, "parse_mode": "HTML",
                                    "link_preview_options": {"is_disabled": True}}, hide=(token,))
        except RemoteError as exc:
            return outcome_of(exc)
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
            return RetryAfter(retry_after(str(wait)) if isinstance(wait, int | float) else None, f"{said}; will retry")
        if code in (401, 404):
            return RetryAfter(None, f"{said}: the bot token is wrong or revoked; check notify.telegram.token; will retry",
                              administrative=True)
        if code >= 500:
            return RetryAfter(None, f"{said}; will retry")
        if "migrate_to_chat_id" in parameters:
            return Parked(f"{said}: the group became a supergroup; write telegram:{parameters['migrate_to_chat_id']}")
        return Parked(said)
