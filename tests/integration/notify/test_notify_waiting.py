"""Waiting for the customer: a request that waits ``remind_waiting_after`` of business time
(on its SLA calendar) reminds the customer once per waiting period, over real SMTP; an
answer (any status change) withdraws the pending reminder."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from notify_fixtures import MSK, NOW, add_request, notify_section, publish, status_changed
from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import TicketRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow

# 2d = 48 business hours on the office calendar (Mon–Fri 09:00–13:00, 14:00–18:00): waiting
# since Monday 11.01 09:30, 7.5 h that day, 32 h Tue–Fri, 8 h Mon 18.01 and half an hour on Tue 19.01
DUE = datetime(2027, 1, 19, 9, 30, tzinfo=MSK)


def waiting_app(tmp_path: Path, sink: SmtpSink) -> tuple[App, int]:
    section = notify_section(sink).replace("  customer:\n", "  customer:\n    remind_waiting_after: 2d\n")
    app = App.from_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n' + section, clock=FrozenClock(NOW))
    app.upgrade_db()
    tid = add_request(app, status="in_progress")
    with app.store.transaction() as s:
        ticket = s.get(TicketRow, tid)
        assert ticket is not None
        ticket.sla_policy = "technical problem"  # the office calendar
    return app, tid


def reminders(app: App) -> list[tuple[str, str | None, datetime]]:
    with app.store.transaction() as s:
        return [(r.state, r.reason, r.next_attempt_at.astimezone(MSK)) for r in s.scalars(
            select(NotificationRow).where(NotificationRow.event == "waiting_reminder").order_by(NotificationRow.id))]


def subjects(sink: SmtpSink) -> list[str]:
    return [str(m["Subject"]) for m in sink.messages]


def test_a_customer_silent_for_two_business_days_is_reminded_once(tmp_path: Path, sink: SmtpSink) -> None:
    app, tid = waiting_app(tmp_path, sink)
    publish(app, status_changed(tid, "in_progress"), status="waiting_customer", ticket_id=tid)
    publish(app, status_changed(tid, "in_progress"), status="waiting_customer", ticket_id=tid)  # announced twice
    assert [(state, due) for state, _, due in reminders(app)] == [("pending", DUE)]
    app.run_job("notify.dispatch", NOW)
    app.run_job("notify.dispatch", DUE - timedelta(minutes=1))
    assert not any("Напоминание" in s for s in subjects(sink))  # only the status mails so far
    assert app.run_job("notify.dispatch", DUE)["sent"] == 1
    reminder = sink.messages[-1]
    assert reminder["Subject"] == "Напоминание: обращение CRM-0000042 ждёт вашего ответа"
    assert "ждёт вашего ответа с 11 января 2027, 09:30 (МСК)" in reminder.get_body(("plain",)).get_content()
    assert reminder["In-Reply-To"] is not None  # in the request's thread
    assert app.run_job("notify.dispatch", DUE + timedelta(days=3)).get("sent", 0) == 0


def test_an_answer_before_the_reminder_withdraws_it_and_a_new_wait_gets_its_own(tmp_path: Path, sink: SmtpSink) -> None:
    app, tid = waiting_app(tmp_path, sink)
    publish(app, status_changed(tid, "in_progress"), status="waiting_customer", ticket_id=tid)
    answered = NOW + timedelta(days=1)
    publish(app, status_changed(tid, "waiting_customer"), status="in_progress", ticket_id=tid, now=answered)
    ((state, reason, _),) = reminders(app)
    assert state == "withdrawn"
    assert reason == "the customer answered: the status changed on 2027-01-12 09:30 MSK"
    again = answered + timedelta(hours=2)  # Tue 11:30: waits again
    publish(app, status_changed(tid, "in_progress"), status="waiting_customer", ticket_id=tid, now=again)
    # Tue 11:30 + 48 business hours: 6.5 h Tue, 32 h Wed–Fri and Mon, 8 h Tue 19.01, 1.5 h Wed 20.01
    assert [(state, due) for state, _, due in reminders(app)][1:] == [("pending", datetime(2027, 1, 20, 11, 30, tzinfo=MSK))]
    assert reminders(app)[0][0] == "withdrawn"  # the earlier period's stays withdrawn
    app.run_job("notify.dispatch", DUE)  # the first period's instant: nothing to remind of
    assert not any("Напоминание" in s for s in subjects(sink))


def test_a_request_left_waiting_by_someone_else_is_not_reminded(tmp_path: Path, sink: SmtpSink) -> None:
    app, tid = waiting_app(tmp_path, sink)
    publish(app, status_changed(tid, "in_progress"), status="waiting_customer", ticket_id=tid)
    with app.store.transaction() as s:  # resolved in the CRM, the import not seen by notify yet
        ticket = s.get(TicketRow, tid)
        assert ticket is not None
        ticket.status = "resolved"
    app.run_job("notify.dispatch", DUE)
    ((state, reason, _),) = reminders(app)
    assert (state, reason) == ("withdrawn", "the request's status is resolved again, not waiting_customer, by send time")
