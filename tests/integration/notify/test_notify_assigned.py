"""routing.assigned → mail over real SMTP: the customer hears who took the request (unless
the acknowledgement already said so), the new assignee that it is theirs; a mail whose
assignment changed again by send time is withdrawn."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notify_fixtures import NOW, add_request, created, make_app, publish
from sqlalchemy import select

from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import AgentRow, TicketRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow

LATER = NOW + timedelta(minutes=30)


def assigned(ticket_id: int, agent_id: int) -> DomainEvent:
    return DomainEvent("routing.assigned", "ticket", ticket_id, "routing", {"agent_id": agent_id, "previous_id": None,
                                                                             "action": "assign"})


def assignee_of(app: object, ticket_id: int) -> int:
    with app.store.transaction() as s:  # type: ignore[attr-defined]
        ticket = s.get(TicketRow, ticket_id)
        assert ticket is not None
        assert ticket.assignee_id is not None
        return int(ticket.assignee_id)


def outcome(app: object) -> dict[tuple[str, str], tuple[str, str | None]]:
    with app.store.transaction() as s:  # type: ignore[attr-defined]
        return {(r.event, r.recipient): (r.state, r.reason) for r in s.scalars(select(NotificationRow))}


def test_after_the_acknowledgement_the_customer_and_the_assignee_hear_of_the_assignment(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid))
    app.run_job("notify.dispatch")
    (ack,) = sink.messages
    publish(app, assigned(tid, assignee_of(app, tid)), now=LATER)
    assert app.run_job("notify.dispatch", LATER)["sent"] == 2
    by_to = {m["To"].addresses[0].addr_spec: m for m in sink.messages[1:]}
    customer, staff = by_to["m.ivanova@romashka.example"], by_to["petrov@example.ru"]
    assert customer["Subject"] == "Обращение CRM-0000042: им занимается Петров Пётр"
    assert "занимается Петров Пётр" in customer.get_body(("plain",)).get_content()
    assert customer["In-Reply-To"] == ack["Message-ID"]  # the request's thread
    assert staff["Subject"] == "Вам назначено обращение CRM-0000042: Не проходит оплата"
    assert "Решение — до 12 января 2027, 10:56 (МСК)." in staff.get_body(("plain",)).get_content()
    assert "List-Unsubscribe" not in staff


def test_an_acknowledgement_still_to_go_names_the_assignee_and_the_separate_mail_is_withdrawn(
        tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid), assigned(tid, assignee_of(app, tid)))
    app.run_job("notify.dispatch")
    subjects = sorted(m["Subject"] for m in sink.messages)
    assert subjects == ["Вам назначено обращение CRM-0000042: Не проходит оплата",
                        "Обращение CRM-0000042 принято: Не проходит оплата"]
    ack = next(m for m in sink.messages if "принято" in m["Subject"])
    assert "Вашим обращением занимается Петров Пётр." in ack.get_body(("plain",)).get_content()
    assert outcome(app)[("assigned", "m.ivanova@romashka.example")] == ("withdrawn", "the acknowledgement names the assignee")


def test_an_assignment_changed_again_before_sending_is_withdrawn(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    tid = add_request(app)
    publish(app, created(tid))
    app.run_job("notify.dispatch")
    first = assignee_of(app, tid)
    publish(app, assigned(tid, first), now=LATER)
    with app.store.transaction() as s:  # another decision before the dispatch ran
        other = AgentRow(name="Сидорова Анна", email="sidorova@example.ru")
        s.add(other)
        s.flush()
        ticket = s.get(TicketRow, tid)
        assert ticket is not None
        ticket.assignee_id = other.id
    app.run_job("notify.dispatch", LATER)
    assert len(sink.messages) == 1  # only the acknowledgement
    reason = "the request was assigned to someone else before the mail went out"
    assert outcome(app)[("assigned", "m.ivanova@romashka.example")] == ("withdrawn", reason)
    assert outcome(app)[("assigned_staff", "petrov@example.ru")] == ("withdrawn", reason)
