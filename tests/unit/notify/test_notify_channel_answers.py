"""Each channel's translation of its remote's answers into outcomes (one layer: the HTTP
exchange mocked with ``responses``), and that secrets never reach an outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import requests
import responses

from crm_bridge.http import MAX_RETRY_AFTER
from notify.channels import MAX_WAIT, Parked, RetryAfter, Sent
from notify.channels.sms import SmsRuSender
from notify.channels.telegram import TelegramSender
from notify.channels.webhook import SIGNATURE, WebhookSender, sign, verify
from notify.outgoing import Outgoing
from notify.settings import SmsRu, TelegramChannel, Webhook
from notify.templates import Rendered, Templates

NOW = datetime(2027, 1, 11, 6, 30, tzinfo=UTC)
TOKEN = "123456:AAF-bot-token"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def claim(recipient: str, channel: str) -> Outgoing:
    return Outgoing(1, recipient, None, "staff", "sla_breach", "ru", "Europe/Moscow", "<abc.1@example.ru>", None,
                    Rendered("[SLA] CRM-0000042", "Срок нарушен", "Срок нарушен"), None, channel,
                    {"request": {"number": "CRM-0000042"}, "facts": {"metric": "resolution"}})


def sms_answer(api: responses.RequestsMock, body: object, status: int = 200) -> None:
    api.post("https://sms.ru/sms/send", json=body, status=status)


SMS = SmsRu(kind="smsru", api_id="api-secret-id", sender="Support")  # type: ignore[arg-type]


def test_smsru_sends_the_documented_form_and_reads_the_sms_id(api: responses.RequestsMock) -> None:
    sms_answer(api, {"status": "OK", "status_code": 100, "balance": 4122.56,
                     "sms": {"79991234567": {"status": "OK", "status_code": 100, "sms_id": "000000-10000000"}}})
    assert SmsRuSender(SMS).send([claim("79991234567", "sms")]) == [Sent("SMS.ru id 000000-10000000")]
    form = parse_qs(api.calls[0].request.body)
    assert form == {"api_id": ["api-secret-id"], "to": ["79991234567"], "msg": ["Срок нарушен"], "json": ["1"],
                    "from": ["Support"]}


@pytest.mark.parametrize(("answer", "expected"), [
    ({"status_code": 202, "status_text": "Неправильно указан номер"}, Parked),
    ({"status_code": 207, "status_text": "Нет маршрута"}, Parked),
    ({"status_code": 209, "status_text": "Стоп-лист"}, Parked),
    ({"status_code": 230, "status_text": "Лимит на номер"}, RetryAfter),
])
def test_smsru_number_errors(api: responses.RequestsMock, answer: dict[str, object], expected: type) -> None:
    sms_answer(api, {"status": "OK", "status_code": 100, "sms": {"79991234567": {"status": "ERROR", **answer}}})
    (outcome,) = SmsRuSender(SMS).send([claim("79991234567", "sms")])
    assert isinstance(outcome, expected)
    assert outcome.reason.startswith(f"SMS.ru answered {answer['status_code']} {answer['status_text']}: ")


def test_smsru_wrong_api_id_holds_the_channel_and_never_shows_the_id(api: responses.RequestsMock) -> None:
    sms_answer(api, {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"})
    (outcome,) = SmsRuSender(SMS).send([claim("79991234567", "sms")])
    assert isinstance(outcome, RetryAfter)
    assert outcome.administrative
    assert "check notify.sms.api_id" in outcome.reason
    assert "api-secret-id" not in outcome.reason


def test_smsru_no_money_holds_the_channel_like_a_wrong_api_id(api: responses.RequestsMock) -> None:
    sms_answer(api, {"status": "ERROR", "status_code": 201, "status_text": "Не хватает средств на лицевом счету"})
    (outcome,) = SmsRuSender(SMS).send([claim("79991234567", "sms")])
    assert isinstance(outcome, RetryAfter)
    assert outcome.administrative
    assert "top it up" in outcome.reason


@pytest.mark.parametrize(("code", "wait"), [(231, 60.0), (232, 3600.0), (233, 600.0), (500, None), (220, None)])
def test_smsru_limits_and_its_server_errors_retry_with_the_wait_they_stand_for(
        api: responses.RequestsMock, code: int, wait: float | None) -> None:
    sms_answer(api, {"status": "ERROR", "status_code": code, "status_text": f"Ошибка {code}"})
    (outcome,) = SmsRuSender(SMS).send([claim("79991234567", "sms")])
    assert isinstance(outcome, RetryAfter)
    assert not outcome.administrative
    assert outcome.seconds == wait


def test_smsru_answer_keyed_otherwise_than_the_number_sent_is_read_from_its_only_entry(
        api: responses.RequestsMock) -> None:
    sms_answer(api, {"status": "OK", "status_code": 100,
                     "sms": {"79991234567": {"status": "OK", "status_code": 100, "sms_id": "000000-7"}}})
    assert SmsRuSender(SMS).send([claim("+7 999 123-45-67", "sms")]) == [Sent("SMS.ru id 000000-7")]


def test_smsru_sent_without_an_answer_parks_as_may_have_been_sent_unless_configured_to_retry(
        api: responses.RequestsMock) -> None:
    api.post("https://sms.ru/sms/send", body=requests.ReadTimeout("read timed out"))
    api.post("https://sms.ru/sms/send", body=requests.ReadTimeout("read timed out"))
    (parked,) = SmsRuSender(SMS).send([claim("79991234567", "sms")])
    retrying = SmsRu(kind="smsru", api_id="api-secret-id", unanswered="retry")  # type: ignore[arg-type]
    (retried,) = SmsRuSender(retrying).send([claim("79991234567", "sms")])
    assert isinstance(parked, Parked)
    assert "may have been sent" in parked.reason
    assert "will retry" not in parked.reason
    assert "api-secret-id" not in parked.reason
    assert isinstance(retried, RetryAfter)


def test_an_answer_too_large_is_parked_on_every_channel_not_retried(api: responses.RequestsMock) -> None:
    huge = b"x" * ((1 << 20) + 1)
    api.post("https://sms.ru/sms/send", body=huge)
    api.post(TG_URL, body=huge)
    api.post(HOOK.url, body=huge)
    outcomes = [SmsRuSender(SMS).send([claim("79991234567", "sms")])[0],
                TelegramSender(TG, Templates()).send([claim("-1", "telegram")])[0],
                WebhookSender([HOOK], lambda: NOW).send([claim(HOOK.url, "webhook")])[0]]
    assert [type(o) for o in outcomes] == [Parked, Parked, Parked]
    assert all("over 1 MB" in o.reason for o in outcomes)


def test_smsru_5xx_and_no_answer_retry(api: responses.RequestsMock) -> None:
    sms_answer(api, {"error": "x"}, status=502)
    api.post("https://sms.ru/sms/send", body=requests.ConnectionError("refused"))
    sender = SmsRuSender(SMS)
    first, second = sender.send([claim("79991234567", "sms")]) + sender.send([claim("79991234567", "sms")])
    assert first == RetryAfter(None, "SMS.ru answered HTTP 502; will retry")
    assert isinstance(second, RetryAfter)
    assert not second.administrative


TG = TelegramChannel(token=TOKEN)  # type: ignore[arg-type]
TG_URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"


def test_telegram_sends_html_to_the_chat(api: responses.RequestsMock) -> None:
    api.post(TG_URL, json={"ok": True, "result": {"message_id": 77}})
    assert TelegramSender(TG, Templates()).send([claim("-100123", "telegram")]) == [Sent("Telegram message 77")]
    sent = json.loads(api.calls[0].request.body)
    assert (sent["chat_id"], sent["parse_mode"], sent["text"]) == ("-100123", "HTML", "Срок нарушен")


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 35",
           "parameters": {"retry_after": 35}},
     RetryAfter(35.0, "Telegram answered 429 Too Many Requests: retry after 35; will retry")),
    (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
     Parked("Telegram answered 403 Forbidden: bot was blocked by the user")),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
     Parked("Telegram answered 400 Bad Request: chat not found")),
    (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"},
     RetryAfter(None, "Telegram answered 502 Bad Gateway; will retry")),
    (429, {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 9999999999999}},
     RetryAfter(3600.0, "Telegram answered 429 Too Many Requests; will retry")),
])
def test_telegram_error_answers(api: responses.RequestsMock, status: int, body: dict[str, object], outcome: object) -> None:
    api.post(TG_URL, json=body, status=status)
    assert TelegramSender(TG, Templates()).send([claim("-100123", "telegram")]) == [outcome]


def test_a_revoked_token_is_administrative_and_the_token_is_never_in_a_reason(api: responses.RequestsMock) -> None:
    api.post(TG_URL, json={"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
    api.post(TG_URL, body=requests.Timeout("read timed out"))
    sender = TelegramSender(TG, Templates())
    revoked, timeout = sender.send([claim("-1", "telegram")]) + sender.send([claim("-1", "telegram")])
    assert isinstance(revoked, RetryAfter)
    assert revoked.administrative
    assert isinstance(timeout, RetryAfter)
    assert TOKEN not in revoked.reason + timeout.reason
    assert "bot***" in timeout.reason


HOOK = Webhook(url="https://hooks.example.ru/crm", secret="whsec-0123456789abcdef")  # type: ignore[arg-type]


def test_a_webhook_is_signed_over_timestamp_and_body(api: responses.RequestsMock) -> None:
    api.post(HOOK.url, status=204)
    assert WebhookSender([HOOK], lambda: NOW).send([claim(HOOK.url, "webhook")]) == [Sent("https://hooks.example.ru/crm answered 204")]
    request = api.calls[0].request
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    header = request.headers[SIGNATURE]
    assert header == sign("whsec-0123456789abcdef", int(NOW.timestamp()), body)
    assert verify("whsec-0123456789abcdef", header, body, NOW.timestamp())
    assert not verify("whsec-0123456789abcdef", header, body + b" ", NOW.timestamp())  # a changed body
    assert not verify("another-secret-value", header, body, NOW.timestamp())
    payload = json.loads(body)
    assert (payload["id"], payload["event"], payload["request"]["number"]) == ("<abc.1@example.ru>", "sla_breach", "CRM-0000042")
    assert request.headers["X-CRM-Bridge-Delivery"] == "<abc.1@example.ru>"


@pytest.mark.parametrize(("status", "headers", "kind", "wait"), [
    (429, {"Retry-After": "120"}, RetryAfter, 120.0),
    (429, {"Retry-After": "Mon, 11 Jan 2027 06:35:00 GMT"}, RetryAfter, 300.0),
    (429, {"Retry-After": "9999999999999"}, RetryAfter, 3600.0),
    (503, {}, RetryAfter, None),
    (503, {"Retry-After": "120"}, RetryAfter, 120.0),
    (500, {"Retry-After": "Mon, 11 Jan 2027 06:31:00"}, RetryAfter, 60.0),
    (404, {}, Parked, None),
    (400, {}, Parked, None),
])
def test_webhook_answers(api: responses.RequestsMock, status: int, headers: dict[str, str], kind: type,
                         wait: float | None) -> None:
    api.post(HOOK.url, status=status, headers=headers)
    (outcome,) = WebhookSender([HOOK], lambda: NOW).send([claim(HOOK.url, "webhook")])
    assert isinstance(outcome, kind)
    if isinstance(outcome, RetryAfter):
        assert outcome.seconds == wait


def test_a_webhook_is_signed_at_the_time_of_each_post_not_once_per_pass(api: responses.RequestsMock) -> None:
    api.post(HOOK.url, status=204)
    api.post(HOOK.url, status=204)
    times = iter([NOW, NOW.replace(minute=45)])
    sender = WebhookSender([HOOK], lambda: next(times))
    sender.send([claim(HOOK.url, "webhook")])
    sender.send([claim(HOOK.url, "webhook")])
    stamps = [call.request.headers[SIGNATURE].split(",")[0] for call in api.calls]
    assert stamps == [f"t={int(NOW.timestamp())}", f"t={int(NOW.replace(minute=45).timestamp())}"]


def test_a_row_of_a_webhook_removed_from_the_configuration_is_parked() -> None:
    (outcome,) = WebhookSender([HOOK], lambda: NOW).send([claim("https://old.example.ru/hook", "webhook")])
    assert isinstance(outcome, Parked)
    assert "no webhook https://old.example.ru/hook" in outcome.reason


@pytest.mark.parametrize(("asked", "kept"), [(9999999999999.0, 3600.0), (float("inf"), 3600.0), (float("nan"), None),
                                             (-3.0, None), (30.0, 30.0)])
def test_an_outcomes_wait_is_at_most_the_shared_cap(asked: float, kept: float | None) -> None:
    assert MAX_WAIT == MAX_RETRY_AFTER  # one cap: notify.channels does not import requests for `--help`
    assert RetryAfter(asked, "x").seconds == kept
