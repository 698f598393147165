"""Mail sent over SMTP becomes a request in 1C once, with its number; replies thread."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm_bridge.store.tables import ContactRow, CustomerRow, TicketEventRow, TicketRow
from intake.tables import InboxRow
from sla.tables import SlaEventRow
from tests.integration.intake.conftest import Desk, mail


def known_contact(desk: Desk) -> tuple[str, int, str]:
    """A synced contact's address, its customer's local id and its name."""
    with desk.app.store.transaction() as s:
        contact = s.scalars(select(ContactRow).where(ContactRow.email.is_not(None), ContactRow.customer_id.is_not(None))
                            .order_by(ContactRow.id)).first()
        assert contact is not None
        assert contact.email
        assert contact.customer_id
        return contact.email, contact.customer_id, contact.name


def test_a_mail_becomes_a_posted_request_in_1c_with_its_fields_and_the_acknowledgement_shows_its_number(desk: Desk) -> None:
    email, customer_id, name = known_contact(desk)
    desk.send(mail(f"{name} <{email}>", "Не работает касса", "Касса не работает с утра.\nтел. +7 916 000-00-00",
                   Message_ID="<first@client.example>"))
    desk.cycle()
    [doc] = desk.ours()
    assert doc["Тема"] == "Не работает касса"
    assert doc["Описание"].startswith("Касса не работает с утра.")
    assert (doc["ВидОбращения"], doc["Важность"], doc["КаналОбращения"]) == ("ТехническаяПроблема", "Высокая", "ЭлектроннаяПочта")
    assert doc["Posted"] is True
    assert str(doc["Number"]).startswith("CRM-")
    with desk.app.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).join(InboxRow, InboxRow.ticket_id == TicketRow.id).distinct()).one()
        customer = s.get(CustomerRow, customer_id)
        assert ticket.number == doc["Number"]  # read back from 1C, not invented here
        assert ticket.customer_id == customer_id
        assert customer is not None
        kinds = list(s.scalars(select(TicketEventRow.kind).where(TicketEventRow.ticket_id == ticket.id)))
        assert "created" in kinds
        row = s.scalars(select(InboxRow)).one()
        assert (row.state, row.ticket_id) == ("registered", ticket.id)
        assert row.decision["match"]["rule"] == "email"
        assert row.decision["classification"]["type_rule"] == "outage: keyword «не работает»"
    desk.acknowledged()
    [ack] = [m for m in desk.sink.messages if str(m["Subject"]).startswith("Обращение") and "Не работает касса" in str(m["Subject"])]
    assert str(ack["Subject"]) == f"Обращение {doc['Number']} принято: Не работает касса"  # the CRM's number
    assert email in str(ack["To"])


def test_the_acknowledgement_goes_out_in_the_cycle_that_registered_the_request(desk: Desk) -> None:
    """`crm-bridge run`'s cycle, once, the clock standing still: the mail is registered, created
    and numbered in 1C, planned by ``intake.confirm`` (``sla.tick`` ran earlier in the cycle)
    and acknowledged with its due date — before, notify held it until the next tick."""
    email, _, name = known_contact(desk)
    desk.send(mail(f"{name} <{email}>", "Не печатается чек", "Принтер чеков молчит.", Message_ID="<once@client.example>"))
    result = desk.cycle()
    assert result["intake.confirm"]["planned"] == 1
    [doc] = desk.ours()
    with desk.app.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
        assert ticket.resolution_due is not None  # the plan exists
    [ack] = [m for m in desk.sink.messages if "Не печатается чек" in str(m["Subject"])]
    assert str(ack["Subject"]) == f"Обращение {doc['Number']} принято: Не печатается чек"


def test_the_customers_reply_to_the_acknowledgement_joins_the_request_as_a_message(desk: Desk) -> None:
    email, _, name = known_contact(desk)
    desk.send(mail(f"{name} <{email}>", "Вопрос по оплате", "Где счёт?", Message_ID="<q1@client.example>"))
    desk.acknowledged()
    ack = next(m for m in desk.sink.messages if str(m["Subject"]).startswith("Обращение") and "Вопрос по оплате" in str(m["Subject"]))
    desk.clock.at += timedelta(minutes=5)  # the customer answers a few minutes later
    desk.send(mail(f"{name} <{email}>", f"Re: {ack['Subject']}", "Спасибо, жду.", Message_ID="<q2@client.example>",
                   In_Reply_To=str(ack["Message-ID"]), References=str(ack["Message-ID"])))
    desk.send(mail(f"{name} <{email}>", f"Обращение № {desk.ours()[0]['Number'].split('-')[1]}", "И ещё вопрос",
                   Message_ID="<q3@client.example>"))
    desk.cycle()
    assert len(desk.ours()) == 1  # no new request in 1C
    with desk.app.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).join(InboxRow, InboxRow.ticket_id == TicketRow.id).distinct()).one()
        messages = list(s.scalars(select(TicketEventRow).where(TicketEventRow.ticket_id == ticket.id,
                                                               TicketEventRow.kind == "message").order_by(TicketEventRow.id)))
        assert [m.data["author"] for m in messages] == ["customer", "customer"]
        assert messages[0].data["rule"] == f"reply to our mail {ack['Message-ID']}"
        assert messages[1].data["rule"] == f"number {ticket.number} in the subject"
        next_response = list(s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket.id,
                                                                  SlaEventRow.metric == "next_response")))
        assert next_response, "the customer's reply started no next-response cycle"
        assert min(e.at for e in next_response) == messages[0].at  # the clock runs from the reply
        states = dict(s.execute(select(InboxRow.message_id, InboxRow.state)).all())
        assert states == {"<q1@client.example>": "registered", "<q2@client.example>": "threaded",
                          "<q3@client.example>": "threaded"}


def test_the_same_topic_again_is_a_repeat_contact_not_a_second_request(desk: Desk) -> None:
    email, _, name = known_contact(desk)
    desk.send(mail(f"{name} <{email}>", "Не проходит оплата", "Оплата картой не проходит", Message_ID="<r1@c>"))
    desk.cycle()
    desk.send(mail(f"{name} <{email}>", "Fwd: Не проходит оплата", "Всё ещё не проходит!", Message_ID="<r2@c>"))
    desk.cycle()
    assert len(desk.ours()) == 1
    with desk.app.store.transaction() as s:
        row = s.scalars(select(InboxRow).where(InboxRow.message_id == "<r2@c>")).one()
        assert row.state == "threaded"
        assert row.decision["thread"]["repeat"] is True
        assert "repeat contact" in row.decision["thread"]["rule"]


def test_a_sender_two_customers_share_waits_for_review_and_nothing_is_created(desk: Desk) -> None:
    with desk.app.store.transaction() as s:
        contacts = list(s.scalars(select(ContactRow).where(ContactRow.customer_id.is_not(None)).order_by(ContactRow.id)))
        first = contacts[0]
        second = next(c for c in contacts if c.customer_id != first.customer_id)
        first.email = second.email = "buh@shared.example"
    desk.send(mail("Бухгалтерия <buh@shared.example>", "Акт сверки", "Пришлите акт", Message_ID="<amb@c>"))
    desk.cycle()
    assert desk.ours() == []
    with desk.app.store.transaction() as s:
        row = s.scalars(select(InboxRow)).one()
        assert row.state == "review"
        assert len({c["customer_id"] for c in row.decision["match"]["candidates"]}) == 2


def test_an_unknown_sender_gets_a_new_contact_and_the_decision_says_so(desk: Desk) -> None:
    desk.send(mail("Новый Клиент <new@nowhere.example>", "Консультация", "Как подключиться?", Message_ID="<n@c>"))
    desk.cycle()
    assert len(desk.ours()) == 1
    with desk.app.store.transaction() as s:
        row = s.scalars(select(InboxRow)).one()
        contact = s.get(ContactRow, row.contact_id)
        assert contact is not None
        assert contact.email == "new@nowhere.example"
        assert row.decision["match"]["outcome"] == "new"
        assert row.decision["match"]["created_contact"] == contact.id


def test_auto_replies_and_bounces_are_never_registered(desk: Desk) -> None:
    email, _, name = known_contact(desk)
    desk.send(mail(f"{name} <{email}>", "Автоответ: в отпуске", "Я в отпуске", Auto_Submitted="auto-replied"))
    desk.send(mail("MAILER-DAEMON@mx.example", "Undelivered Mail", "550 no such user"))
    desk.cycle()
    assert desk.ours() == []
    assert not any("Автоответ" in str(m["Subject"]) for m in desk.sink.messages)
    with desk.app.store.transaction() as s:
        assert set(s.scalars(select(InboxRow.state))) == {"ignored"}


def test_the_receiver_refuses_strangers_and_oversized_mail_before_storing(desk: Desk) -> None:
    msg = mail("a@b.example", "x", "y")
    msg.replace_header("To", "other@demo.example")
    with smtplib.SMTP(desk.receiver.host, desk.receiver.port, timeout=10) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.send_message(msg, to_addrs=["other@demo.example"])
    big = mail("a@b.example", "big", "z" * 300_000)
    with smtplib.SMTP(desk.receiver.host, desk.receiver.port, timeout=10) as client, \
            pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPServerDisconnected)):
        client.send_message(big)
    with desk.app.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == 0


def test_the_same_message_delivered_twice_is_stored_once(desk: Desk) -> None:
    email, _, name = known_contact(desk)
    msg = mail(f"{name} <{email}>", "Дубль", "текст", Message_ID="<twice@c>")
    desk.send(msg)
    desk.send(msg)
    desk.cycle()
    assert len(desk.ours()) == 1
