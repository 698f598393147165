"""Notifications delivered over real SMTP into a local aiosmtpd server: headers, threading,
both languages, Babel dates, the outbox's unique key, 4xx retry, 5xx parking, withdrawal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notify_fixtures import NOW, add_request, created, make_app, publish, status_changed
from sqlalchemy import select

from crm_bridge.app import FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import TicketRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow


def rows(app: object) -> list[NotificationRow]:
    with app.store.transaction() as s:  # type: ignore[attr-defined]
        found = list(s.scalars(select(NotificationRow).order_by(NotificationRow.id)))
        s.expunge_all()
        return found


def test_acknowledgement_reaches_the_contact_in_russian_with_babel_dates_and_one_click_unsubscribe(
        tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid))
    assert app.run_job("notify.dispatch")["sent"] == 1
    (mail,) = sink.messages
    assert sink.envelopes[0][1] == ["m.ivanova@romashka.example"]
    assert mail["Subject"] == "Обращение CRM-0000042 принято: Не проходит оплата"
    assert mail["To"].addresses[0].display_name == "Иванова Мария Петровна"
    assert mail["Reply-To"] == "support@example.ru"
    text = mail.get_body(("plain",)).get_content()
    assert "Решение — до 12 января 2027, 10:56 (МСК)." in text
    assert "Первый ответ — до 11 января 2027, 11:00 (МСК)." in text
    html = mail.get_body(("html",)).get_content()
    assert "<b>CRM-0000042</b>" in html
    (row,) = rows(app)
    assert mail["Message-ID"] == row.message_id
    assert row.state == "sent"
    assert row.subject == mail["Subject"]
    assert "In-Reply-To" not in mail  # the first mail of the request starts the thread
    assert mail["List-Unsubscribe"].startswith("<https://support.example.ru/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_an_english_segment_gets_english_mail_in_its_own_zone(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app, segment="international")
    publish(app, created(tid))
    app.run_job("notify.dispatch")
    (mail,) = sink.messages
    assert mail["Subject"] == "Request CRM-0000042 received: Не проходит оплата"
    assert "Resolution by 12 January 2027, 07:56 (GMT+00:00)." in mail.get_body(("plain",)).get_content()


def test_later_mails_of_a_request_thread_under_the_first(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid))
    app.run_job("notify.dispatch")
    publish(app, status_changed(tid, "new"), status="in_progress", ticket_id=tid, now=NOW + timedelta(minutes=5))
    app.run_job("notify.dispatch", NOW + timedelta(minutes=5))
    publish(app, status_changed(tid, "in_progress"), status="resolved", ticket_id=tid, now=NOW + timedelta(hours=2))
    app.run_job("notify.dispatch", NOW + timedelta(hours=2))
    first, progress, resolved = sink.messages
    assert progress["Subject"] == "Обращение CRM-0000042: в работе"
    assert resolved["Subject"] == "Обращение CRM-0000042 решено"
    for later in (progress, resolved):
        assert later["In-Reply-To"] == first["Message-ID"]
        assert later["References"] == first["Message-ID"]
    assert len({m["Message-ID"] for m in sink.messages}) == 3


def test_the_same_event_twice_is_one_row_and_one_mail(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid), created(tid))
    publish(app, created(tid))  # a retried job announcing it again
    breach = DomainEvent("sla.breach", "ticket", tid, "sla", {"metric": "resolution", "cycle": 1, "at": NOW})
    publish(app, breach)
    publish(app, breach)
    app.run_job("notify.dispatch")
    app.run_job("notify.dispatch", NOW + timedelta(hours=1))
    assert [(r.event, r.recipient) for r in rows(app)] == [
        ("acknowledgement", "m.ivanova@romashka.example"), ("sla_breach", "petrov@example.ru"),
        ("sla_breach", "lead@example.ru")]
    assert sorted(to for _, (to,) in sink.envelopes) == ["lead@example.ru", "m.ivanova@romashka.example", "petrov@example.ru"]
    alert = next(m for m in sink.messages if m["To"].addresses[0].addr_spec == "lead@example.ru")
    assert alert["Subject"] == "[SLA] срок нарушен: CRM-0000042, решение"
    assert "List-Unsubscribe" not in alert  # staff alerts are not a list one leaves


def test_a_rolled_back_import_queues_nothing(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    try:
        with app.store.transaction() as s:
            unit = app.bus.unit(s, NOW, app.config)
            unit.publish(created(tid))
            unit.complete()
            raise RuntimeError("the import fails after the event")  # noqa: TRY301
    except RuntimeError:
        pass
    assert rows(app) == []


def test_a_4xx_answer_is_retried_after_its_wait_and_then_delivered(tmp_path: Path, sink: SmtpSink) -> None:
    clock = FrozenClock(NOW)
    app = make_app(tmp_path, sink, clock=clock)
    tid = add_request(app)
    publish(app, created(tid))
    sink.answers.append("451 4.7.1 Greylisted, try again later")
    first = app.run_job("notify.dispatch")
    assert first["sent"] == 0
    assert first["retried"] == 1
    (row,) = rows(app)
    assert row.state == "pending"
    assert row.attempts == 1
    assert "451" in (row.reason or "")
    assert row.next_attempt_at >= NOW + timedelta(minutes=5)  # greylisting wants minutes
    assert app.run_job("notify.dispatch", NOW + timedelta(minutes=1))["sent"] == 0  # not due yet
    assert app.run_job("notify.dispatch", row.next_attempt_at)["sent"] == 1
    (sent,) = rows(app)
    assert sent.state == "sent"
    assert sent.attempts == 2
    assert sink.messages[0]["Message-ID"] == row.message_id


def test_a_5xx_answer_parks_the_row_with_the_reason(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid))
    sink.answers.append("550 5.1.1 Mailbox unavailable")
    result = app.run_job("notify.dispatch")
    assert result["parked"] == 1
    (row,) = rows(app)
    assert row.state == "parked"
    assert "550 5.1.1 Mailbox unavailable" in (row.reason or "")
    assert app.run_job("notify.dispatch", NOW + timedelta(days=1))["sent"] == 0
    assert sink.messages == []


def test_a_status_mail_whose_status_changed_back_is_withdrawn(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app, status="in_progress")
    publish(app, status_changed(tid, "in_progress"), status="waiting_customer", ticket_id=tid)
    with app.store.transaction() as s:  # changed back in the CRM before the mail went out
        ticket = s.get(TicketRow, tid)
        assert ticket is not None
        ticket.status = "in_progress"
    assert app.run_job("notify.dispatch")["withdrawn"] == 1
    (row,) = rows(app)
    assert row.state == "withdrawn"
    assert row.reason == "the request's status is in_progress again, not waiting_customer, by send time"
    assert sink.messages == []


def test_an_acknowledgement_of_a_request_closed_before_it_went_out_is_withdrawn(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid))
    publish(app, status_changed(tid, "new"), status="closed", ticket_id=tid)
    result = app.run_job("notify.dispatch")
    assert result["withdrawn"] == 1
    assert result["sent"] == 1
    ack = next(r for r in rows(app) if r.event == "acknowledgement")
    assert ack.reason == "the request was closed before its acknowledgement went out"
    assert [m["Subject"] for m in sink.messages] == ["Обращение CRM-0000042 закрыто"]


def test_quiet_hours_hold_customer_mail_until_morning(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, '  quiet_hours: {from: "22:00", to: "08:00"}\n')
    tid = add_request(app)
    night = NOW.replace(hour=23, minute=10)
    publish(app, created(tid), now=night)
    assert app.run_job("notify.dispatch", night)["sent"] == 0  # written due at the end of the quiet hours
    (row,) = rows(app)
    assert row.next_attempt_at == (night + timedelta(days=1)).replace(hour=8, minute=0)
    assert row.reason == "quiet hours until 08:00 MSK"
    assert app.run_job("notify.dispatch", row.next_attempt_at)["sent"] == 1


def test_an_acknowledgement_waits_for_the_sla_plan_and_states_its_due_dates(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, plan_wait="5m")
    tid = add_request(app)
    with app.store.transaction() as s:  # not planned yet: no due dates
        ticket = s.get(TicketRow, tid)
        assert ticket is not None
        ticket.first_response_due = ticket.resolution_due = None
    publish(app, created(tid))
    assert app.run_job("notify.dispatch")["waiting"] == 1
    assert rows(app)[0].reason == "waiting for the SLA plan (the due dates the acknowledgement states)"
    app.run_job("sla.tick")
    later = NOW + timedelta(seconds=15)
    assert app.run_job("notify.dispatch", later)["sent"] == 1
    text = sink.messages[0].get_body(("plain",)).get_content()
    assert "Первый ответ — до 11 января 2027, 11:00 (МСК)." in text  # technical problem: 2 office hours from 09:00
