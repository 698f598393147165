"""The SMS channel through SMS.ru's HTTP API (https://sms.ru/api/send).

One POST to ``<base_url>/sms/send`` per row: ``api_id``, ``to`` (digits, international),
``msg``, ``json=1`` (and ``from``: an approved sender name; ``test=1``: answered, not
sent). The JSON answer has a request-level ``status``/``status_code`` and, under ``sms``,
one per number::

    {"status": "OK", "status_code": 100, "balance": 4122.56,
     "sms": {"79255070602": {"status": "OK", "status_code": 100, "sms_id": "000000-10000000"}}}
    {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}

Its codes become outcomes here, in one place (``CODES``): 100 sent; an invalid or
unreachable number (202, 207), the stop-list (209), a text it refuses (203–205) → parked
with SMS.ru's words; a limit (206, 230–233: a day's, a minute's, of the same text) or the
service unavailable (220, 500) → retried (a limit not before the wait it stands for, in
``WAIT``), as are HTTP 5xx and no connection; the api_id or the account refused (200,
300–302) or no money on it (201) → every SMS waits for an administrator (no attempts spent).

**Sent, but no answer.** A read timeout (the request went out, SMS.ru's answer did not
come) is ambiguous: SMS.ru may have sent the SMS and charged it. By default the row is
parked with "may have been sent" — a person looks in SMS.ru's cabinet and retries the row
or leaves it; ``unanswered: retry`` sends it again (the recipient may get it twice, and
SMS.ru charge twice).

The answer is read for the number sent; an answer keyed otherwise (SMS.ru normalises the
number it was given) is read from its only entry.

The text comes from ``<lang>/<event>.sms.txt`` and is cut to ``max_segments``
(``notify.channels.segments``: GSM-7 or UCS-2, ellipsis at a word boundary). Another
gateway (SMSC.ru) plugs in as a class with the same ``render``/``send``/``close`` and a
``kind`` of its own in ``notify.settings``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import requests

from crm_bridge.errors import RemoteError
from crm_bridge.http import NoAnswer, exchange
from notify.channels import Outcome, Parked, RetryAfter, Sent, outcome_of
from notify.channels.segments import fit, measure
from notify.outgoing import Outgoing
from notify.settings import SmsRu
from notify.templates import Rendered, Templates

__all__ = ["CODES", "WAIT", "SmsRuSender", "render_sms"]

#: the least wait (s) before a retry a limit code stands for (others: the dispatcher's back-off)
WAIT = {206: 3600.0, 230: 3600.0, 231: 60.0, 232: 3600.0, 233: 600.0}
#: SMS.ru's codes (request- and number-level) → what the row does: "parked", "retry" or "admin"
CODES: dict[int, tuple[str, str]] = {
    200: ("admin", "wrong api_id; check notify.sms.api_id"),
    201: ("admin", "not enough money on the SMS.ru account; top it up (SMS wait, no attempts spent)"),
    202: ("parked", "the recipient's number is wrong or has no route"),
    203: ("parked", "no message text"),
    204: ("parked", "the sender name is not approved by SMS.ru; fix notify.sms.sender"),
    205: ("parked", "the message is longer than 8 SMS"),
    206: ("retry", "the daily sending limit is reached"),
    207: ("parked", "messages cannot be sent to this number (no route)"),
    208: ("parked", "the time parameter is wrong"),
    209: ("parked", "the number is in the account's stop-list"),
    220: ("retry", "the service is temporarily unavailable"),
    230: ("retry", "the daily limit of messages to this number is reached"),
    231: ("retry", "the limit of the same message to this number in a minute is reached"),
    232: ("retry", "the limit of the same message to this number in a day is reached"),
    233: ("retry", "the limit of repeated messages to this number in a short time is reached"),
    300: ("admin", "wrong token (expired, or the IP changed); check notify.sms.api_id"),
    301: ("admin", "wrong api_id or login/password; check notify.sms.api_id"),
    302: ("admin", "the SMS.ru account is not confirmed; confirm it in the cabinet"),
    500: ("retry", "an error on SMS.ru's server"),
}


def render_sms(templates: Templates, event: str, lang: str, context: dict[str, Any], max_segments: int) -> Rendered:
    """``<lang>/<event>.sms.txt`` cut to `max_segments`; ``html`` says its length
    ("2 SMS, UCS-2, 96 characters"), which ``notify preview`` shows."""
    text = fit(templates.render_file(f"{lang}/{event}.sms.txt", context), max_segments)
    length = measure(text)
    return Rendered(text, text, f"{length.segments} SMS, {length.encoding}, {length.units} characters")


class SmsRuSender:
    """The ``sms`` channel through SMS.ru. Example::

        sender = SmsRuSender(config.sms)
        rendered = sender.render(templates, "acknowledgement", "ru", context)   # cut to max_segments
        sender.send([claim])                                                   # [Sent("SMS.ru id ...")]
    """

    name = "sms"
    folds = 1

    def __init__(self, config: SmsRu) -> None:
        self.config = config
        self.session = requests.Session()

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        return render_sms(templates, event, lang, context, self.config.max_segments)

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        return [self._one(claim) for claim in batch]

    def close(self) -> None:
        self.session.close()

    def _one(self, claim: Outgoing) -> Outcome:
        c = self.config
        form = {"api_id": c.api_id.get_secret_value(), "to": claim.recipient, "msg": claim.rendered.text, "json": "1"}
        if c.sender:
            form["from"] = c.sender
        if c.test:
            form["test"] = "1"
        try:
            answer = exchange(self.session, "POST", f"{c.base_url}/sms/send", backend="SMS.ru", what="send an SMS",
                              timeout=(5.0, c.timeout), total=c.timeout * 2, max_bytes=1 << 20, data=form,
                              hide=(c.api_id.get_secret_value(),))
        except NoAnswer as exc:
            if c.unanswered == "retry":
                return outcome_of(exc)
            return Parked(f"{exc.once}: may have been sent (SMS.ru may have sent and charged it); look in SMS.ru's "
                          f"cabinet, then retry the row or leave it (notify.sms.unanswered: retry sends such SMS again)")
        except RemoteError as exc:
            return outcome_of(exc)
        if answer.status >= 500 or answer.status == 429:
            return RetryAfter(None, f"SMS.ru answered HTTP {answer.status}; will retry")
        try:
            body = json.loads(answer.body)
        except ValueError:
            return RetryAfter(None, f"SMS.ru answered HTTP {answer.status} without JSON; will retry")
        if not isinstance(body, dict):
            return RetryAfter(None, "SMS.ru answered an unexpected JSON; will retry")
        if body.get("status") != "OK":
            return _coded(body)
        numbers = body.get("sms") or {}
        number = numbers.get(claim.recipient) if isinstance(numbers, dict) else None
        if number is None and isinstance(numbers, dict) and len(numbers) == 1:  # keyed as SMS.ru wrote the number
            (number,) = numbers.values()
        if not isinstance(number, dict):
            return Parked(f"SMS.ru's answer names no status for {claim.recipient}")
        if number.get("status") == "OK" and int(number.get("status_code", 100)) == 100:
            return Sent(f"SMS.ru id {number.get('sms_id')}" + (" (test: not sent)" if c.test else ""))
        return _coded(number)


def _coded(part: dict[str, Any]) -> Outcome:
    """The outcome of an SMS.ru error answer (the request's or one number's)."""
    try:
        code = int(part.get("status_code", 0))
    except (TypeError, ValueError):
        code = 0
    action, meaning = CODES.get(code, ("parked", "an error this version does not know"))
    said = f"SMS.ru answered {code} {part.get('status_text') or ''}".rstrip()
    if action == "admin":
        return RetryAfter(None, f"{said}: {meaning}; will retry", administrative=True)
    if action == "retry":
        return RetryAfter(WAIT.get(code), f"{said}: {meaning}; will retry")
    return Parked(f"{said}: {meaning}")
