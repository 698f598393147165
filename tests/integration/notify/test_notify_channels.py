"""SMS, Telegram and webhooks end to end: events → outbox rows → notify.dispatch → local
servers that answer as SMS.ru, the Telegram Bot API and a signature-checking receiver do."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from notify_fixtures import CHAT, NOW, PHONE, SECRET, TOKEN, add_request, created, publish
from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from notify.channels.fakes import FakeSmsRu, FakeTelegram, WebhookReceiver
from notify.sink import SmtpSink
from notify.tables import NotificationRow


def make_app(tmp_path: Path, sink: SmtpSink, sms: FakeSmsRu, tg: FakeTelegram, hook: WebhookReceiver, *,
             breach: str = f'[assignee, "telegram:{CHAT}", "sms:+7 999 123-45-67"]', clock: FrozenClock | None = None,
             sms_extra: str = "", store_url: str | None = None) -> App:
    text = f"""
store: {{url: "{store_url or f'sqlite:///{tmp_path / "s.db"}'}"}}
notify:
  email: {{host: {sink.host}, port: {sink.port}, tls: none, from: "Поддержка <support@example.ru>"}}
  sms: {{kind: smsru, api_id: sms-api-id, base_url: "{sms.url}", sender: Support, max_segments: 2{sms_extra}}}
  telegram: {{token: "{TOKEN}", base_url: "{tg.url}"}}
  webhooks:
    - {{url: "{hook.url}/crm", secret: {SECRET}, events: [sla_breach, acknowledgement]}}
  staff: {{breach: {breach}}}
  wait_for_plan: 0s
"""
    app = App.from_text(text, clock=clock or FrozenClock(NOW))
    app.upgrade_db()
    return app


def breach(tid: int) -> DomainEvent:
    return DomainEvent("sla.breach", "ticket", tid, "sla", {"metric": "resolution", "cycle": 1, "at": NOW})


def rows(app: App) -> dict[str, NotificationRow]:
    with app.store.transaction() as s:
        return {f"{r.channel}:{r.event}": r for r in s.scalars(select(NotificationRow).order_by(NotificationRow.id))}


def test_a_breach_goes_by_mail_telegram_sms_and_a_signed_webhook_once_each(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver],
        caplog: pytest.LogCaptureFixture) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook)
    tid = add_request(app)
    publish(app, created(tid), breach(tid))
    publish(app, breach(tid))  # announced twice: still one row per channel
    with caplog.at_level(logging.INFO):  # crm-bridge logs (urllib3 logs URLs at DEBUG: see notify/README.md)
        result = app.run_job("notify.dispatch")
        again = app.run_job("notify.dispatch", NOW + timedelta(hours=1))
    assert result["sent"] == 6  # ack mail + ack webhook, breach: mail, telegram, sms, webhook
    assert again["sent"] == 0
    assert {k: r.state for k, r in rows(app).items()} == dict.fromkeys(
        ["email:acknowledgement", "webhook:acknowledgement", "email:sla_breach", "telegram:sla_breach", "sms:sla_breach",
         "webhook:sla_breach"], "sent")
    (message,) = tg.sent
    assert message["chat_id"] == CHAT
    assert message["parse_mode"] == "HTML"
    assert message["text"].startswith("<b>[SLA] срок нарушен: CRM-0000042, решение</b>")
    (text,) = sms.sent
    assert text["to"] == PHONE
    assert text["from"] == "Support"
    assert text["msg"].startswith("[SLA] CRM-0000042: срок нарушен (решение). Исполнитель: Петров Пётр.")
    assert rows(app)["sms:sla_breach"].reason == "SMS.ru id 000000-00000001"
    assert hook.rejected == 0
    assert [(h["X-CRM-Bridge-Event"], body["request"]["number"]) for h, body in hook.received] == [
        ("acknowledgement", "CRM-0000042"), ("sla_breach", "CRM-0000042")]
    headers, body = hook.received[1]
    assert headers["X-CRM-Bridge-Delivery"] == body["id"] == rows(app)["webhook:sla_breach"].message_id
    assert body["facts"]["metric"] == "resolution"
    assert body["request"]["resolution_due"].startswith("2027-01-12T")  # ISO 8601
    assert TOKEN not in caplog.text
    assert "sms-api-id" not in caplog.text


def test_telegram_429_waits_its_retry_after_then_delivers(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach=f'["telegram:{CHAT}"]')
    tid = add_request(app)
    publish(app, breach(tid))
    tg.flood.append(1800)
    assert app.run_job("notify.dispatch")["retried"] == 1
    row = rows(app)["telegram:sla_breach"]
    assert row.state == "pending"
    assert row.next_attempt_at >= NOW + timedelta(seconds=1800)
    assert "429 Too Many Requests: retry after 1800" in (row.reason or "")
    assert app.run_job("notify.dispatch", NOW + timedelta(minutes=10))["sent"] == 0  # not before Telegram said
    assert app.run_job("notify.dispatch", row.next_attempt_at)["sent"] == 1
    assert len(tg.sent) == 1


def test_a_bot_blocked_by_the_user_and_an_unknown_chat_are_parked_with_telegrams_words(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["telegram:-42", "telegram:-777"]')
    tid = add_request(app)
    publish(app, breach(tid))
    assert app.run_job("notify.dispatch")["parked"] == 2
    with app.store.transaction() as s:
        reasons = {r.recipient: (r.state, r.reason) for r in s.scalars(select(NotificationRow).where(
            NotificationRow.channel == "telegram"))}
    assert reasons == {"-42": ("parked", "Telegram answered 403 Forbidden: bot was blocked by the user"),
                       "-777": ("parked", "Telegram answered 400 Bad Request: chat not found")}


def test_a_wrong_bot_token_holds_telegram_without_spending_attempts_and_never_shows_the_token(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    tg.token = "999:other"
    app = make_app(tmp_path, sink, sms, tg, hook)
    tid = add_request(app)
    publish(app, breach(tid))
    result = app.run_job("notify.dispatch")
    row = rows(app)["telegram:sla_breach"]
    assert (row.state, row.attempts) == ("pending", 0)
    assert "check notify.telegram.token" in (row.reason or "")
    assert TOKEN not in json.dumps(result)
    assert rows(app)["sms:sla_breach"].state == "sent"  # the other channels go on


@pytest.mark.parametrize(("code", "state"), [(202, "parked"), (207, "parked"), (230, "pending")])
def test_smsru_number_codes_park_an_invalid_number_and_retry_a_daily_limit(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver], code: int,
        state: str) -> None:
    sms, tg, hook = servers
    sms.codes[PHONE] = code
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["sms:+79991234567"]')
    tid = add_request(app)
    publish(app, breach(tid))
    app.run_job("notify.dispatch")
    row = rows(app)["sms:sla_breach"]
    assert row.state == state
    assert (row.reason or "").startswith(f"SMS.ru answered {code} ")
    if state == "pending":
        assert row.next_attempt_at >= NOW + timedelta(hours=1)


def test_no_money_on_the_smsru_account_holds_every_sms_without_spending_attempts_and_a_5xx_retries(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["sms:+79991234567", "sms:+79990000000"]')
    tid = add_request(app)
    publish(app, breach(tid))
    sms.http_errors.append(503)
    sms.account_code = 201
    app.run_job("notify.dispatch")
    with app.store.transaction() as s:
        got = {r.recipient: (r.state, r.reason, r.attempts)
               for r in s.scalars(select(NotificationRow).where(NotificationRow.channel == "sms"))}
    assert got["79991234567"] == ("pending", "SMS.ru answered HTTP 503; will retry", 1)
    state, reason, attempts = got["79990000000"]
    assert (state, attempts) == ("pending", 0)
    assert "not enough money" in reason


def test_after_an_administrative_fault_the_recipients_later_messages_wait_unclaimed_and_unspent(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    import notify.dispatch

    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["sms:+79991234567"]')
    for number in ("CRM-0000042", "CRM-0000043", "CRM-0000044"):  # three SMS to one number: three messages
        publish(app, breach(add_request(app, number=number)))
    sms.account_code = 201
    app.run_job("notify.dispatch")
    assert sms.requests == 1  # the first SMS told: no money; the other two were not tried
    with app.store.transaction() as s:
        held = list(s.scalars(select(NotificationRow).where(NotificationRow.channel == "sms")))
    assert len(held) == 3
    assert {(r.state, r.attempts) for r in held} == {("pending", 0)}
    assert {r.next_attempt_at for r in held} == {NOW + notify.dispatch.ADMIN_WAIT}  # not a lease: held, all of them
    assert all("not enough money" in (r.reason or "") for r in held)


def test_after_an_administrative_fault_the_rows_claimed_but_not_sent_are_released_unspent(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    import notify.dispatch
    from crm_bridge.store.tables import TicketRow

    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach=f'["telegram:{CHAT}"]')
    ids = [add_request(app, number=f"CRM-{n:07d}") for n in range(1, 6)]
    publish(app, *(breach(t) for t in ids))  # five: one digest planned
    with app.store.transaction() as s:
        ticket = s.get(TicketRow, ids[0])
        assert ticket is not None
        ticket.deleted = True  # withdrawn at its claim: four left, each its own message
    tg.token = "654321:another-bot"  # every sendMessage answers 401: the token is wrong
    app.run_job("notify.dispatch")
    assert tg.requests == 1
    with app.store.transaction() as s:
        live = list(s.scalars(select(NotificationRow).where(NotificationRow.channel == "telegram",
                                                            NotificationRow.state == "pending")))
    assert len(live) == 4
    assert {(r.attempts, r.next_attempt_at) for r in live} == {(0, NOW + notify.dispatch.ADMIN_WAIT)}


@pytest.mark.parametrize(("unanswered", "state"), [("park", "parked"), ("retry", "pending")])
def test_an_sms_smsru_took_but_answered_too_late_is_parked_as_may_have_been_sent_unless_told_to_retry(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver], unanswered: str,
        state: str) -> None:
    sms, tg, hook = servers
    sms.stall.append(0.5)  # SMS.ru sends it, then answers after our read timeout
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["sms:+79991234567"]',
                   sms_extra=f", timeout: 0.1, unanswered: {unanswered}")
    publish(app, breach(add_request(app)))
    app.run_job("notify.dispatch")
    row = rows(app)["sms:sla_breach"]
    assert len(sms.sent) == 1
    assert row.state == state
    assert ("may have been sent" in (row.reason or "")) == (state == "parked")


def test_a_retry_after_of_ten_trillion_seconds_waits_an_hour_and_breaks_nothing(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach=f'["telegram:{CHAT}"]')
    publish(app, breach(add_request(app)))
    hook.answers.append((429, {"Retry-After": "9999999999999"}))
    tg.flood.append(9999999999999)
    result = app.run_job("notify.dispatch")
    assert result["retried"] == 2
    got = rows(app)
    assert got["webhook:sla_breach"].next_attempt_at == NOW + timedelta(hours=1)
    assert got["telegram:sla_breach"].next_attempt_at == NOW + timedelta(hours=1)


def test_a_webhook_receiver_that_answers_5xx_then_429_gets_it_after_retry_after_and_a_410_parks(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach="[assignee]")
    tid = add_request(app)
    publish(app, breach(tid))
    hook.answers += [(503, {}), (429, {"Retry-After": "600"})]
    app.run_job("notify.dispatch")
    first = rows(app)["webhook:sla_breach"]
    assert (first.state, first.reason) == ("pending", f"{hook.url}/crm answered HTTP 503; will retry")
    hook.clock = first.next_attempt_at.timestamp  # the receiver's clock agrees with the sender's
    app.run_job("notify.dispatch", first.next_attempt_at)
    second = rows(app)["webhook:sla_breach"]
    assert second.next_attempt_at >= first.next_attempt_at + timedelta(seconds=600)
    hook.clock = second.next_attempt_at.timestamp
    app.run_job("notify.dispatch", second.next_attempt_at)
    assert rows(app)["webhook:sla_breach"].state == "sent"
    assert len(hook.received) == 1
    assert hook.rejected == 0
    tid2 = add_request(app, number="CRM-0000043")
    publish(app, breach(tid2))
    hook.answers.append((410, {}))
    later = second.next_attempt_at + timedelta(seconds=1)
    hook.clock = later.timestamp
    app.run_job("notify.dispatch", later)
    with app.store.transaction() as s:
        gone = s.scalars(select(NotificationRow).where(NotificationRow.channel == "webhook",
                                                       NotificationRow.ticket_id == tid2)).one()
    assert gone.state == "parked"
    assert "410" in (gone.reason or "")


def test_a_signature_older_than_the_receivers_tolerance_is_refused(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    hook.clock = (NOW + timedelta(minutes=6)).timestamp  # a replay, six minutes on
    app = make_app(tmp_path, sink, sms, tg, hook, breach="[assignee]")
    publish(app, breach(add_request(app)))
    app.run_job("notify.dispatch")
    assert hook.rejected == 1
    assert hook.received == []


def test_a_receiver_with_another_secret_refuses_the_signature_and_the_row_is_parked(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    hook.secret = "another-secret-entirely"
    app = make_app(tmp_path, sink, sms, tg, hook, breach="[assignee]")
    tid = add_request(app)
    publish(app, breach(tid))
    app.run_job("notify.dispatch")
    assert hook.rejected == 1
    assert rows(app)["webhook:sla_breach"].state == "parked"


def test_a_crash_after_telegram_accepted_resends_once_after_the_lease_never_before(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import notify.dispatch

    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach=f'["telegram:{CHAT}"]')
    tid = add_request(app)
    publish(app, breach(tid))

    def crash(*_: object, **__: object) -> None:
        raise SystemExit("killed between Telegram's ok and the record")

    with monkeypatch.context() as patch:
        patch.setattr(notify.dispatch, "_record", crash)
        with pytest.raises(SystemExit):
            app.run_job("notify.dispatch")
    assert len(tg.sent) == 1
    assert rows(app)["telegram:sla_breach"].state == "pending"
    app.run_job("notify.dispatch", NOW + timedelta(minutes=5))  # the webhook's row goes; Telegram's is leased
    assert len(tg.sent) == 1
    assert rows(app)["telegram:sla_breach"].state == "pending"
    app.run_job("notify.dispatch", NOW + notify.dispatch.LEASE)  # the lease ran out: the documented window
    assert len(tg.sent) == 2
    assert rows(app)["telegram:sla_breach"].state == "sent"
    app.run_job("notify.dispatch", NOW + notify.dispatch.LEASE * 3)
    assert len(tg.sent) == 2


def test_status_counts_by_channel_and_names_rows_whose_channel_lost_its_section(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    from notify.status import notify_status

    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach=f'["telegram:{CHAT}"]')
    publish(app, breach(add_request(app)))
    section = notify_status(app, NOW)
    assert section.data["channels"]["telegram"]["pending"] == 1
    assert section.data["mails"]["pending"] == 2  # every channel's: telegram and the webhook
    mail_only = App.from_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\nnotify:\n'
                              f'  email: {{host: {sink.host}, port: {sink.port}, tls: none, from: "a@example.ru"}}\n')
    assert mail_only.run_job("notify.dispatch", NOW) == {"sent": 0}  # rows of channels it has no section for wait
    problems = [p.reason for p in notify_status(mail_only, NOW).problems]
    assert "notify: 1 telegram notification(s) wait: notify has no `telegram:` section" in problems
    assert "notify: 1 webhook notification(s) wait: notify has no `webhooks:` section" in problems


def test_a_burst_of_breaches_to_one_chat_is_one_telegram_digest_and_each_row_says_so(
        tmp_path: Path, sink: SmtpSink, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach=f'["telegram:{CHAT}"]')
    ids = [add_request(app, number=f"CRM-{n:07d}") for n in range(1, 7)]
    publish(app, *(breach(t) for t in ids))
    result = app.run_job("notify.dispatch")
    assert (result["sent"], result["digests"]) == (12, 1)  # 6 Telegram rows in one message, 6 webhook posts
    (message,) = tg.sent
    assert message["text"].startswith("<b>[SLA] сводка: 6 уведомлений о сроках</b>")
    assert all(f"• [SLA] срок нарушен: CRM-{n:07d}, решение" in message["text"] for n in range(1, 7))
    with app.store.transaction() as s:
        notes = {r.reason for r in s.scalars(select(NotificationRow).where(NotificationRow.channel == "telegram"))}
    assert notes == {"in a Telegram digest (Telegram message 1) with 5 more"}
