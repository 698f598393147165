"""Intake and 1C both ways: a customer's threaded message becomes a note in the request's
history in 1C (Catalog_Заметки by Предмет), once, however often the create is retried; an
agent's reply written in 1C (an outgoing e-mail by Предмет) becomes the agent's ``message``
event and ends the next-response clock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm_bridge.store.tables import ContactRow, NoteRow, TicketEventRow, TicketRow
from intake.tables import InboxRow
from sync.tables import BindingRow, OutboxRow
from tests.integration.intake.conftest import Desk, mail, open_desk

NOTES = "Catalog_Заметки"
MOSCOW = ZoneInfo("Europe/Moscow")  # the emulated base's wall clock
WRITES = """    models: [customer, contact, agent, ticket, note]
    create_remote: [ticket, note]
    post_created: [ticket]
    timeout: {connect: 2, read: 2}
"""


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with open_desk(tmp_path, WRITES) as opened:
        yield opened


def registered(desk: Desk, subject: str, key: str) -> tuple[int, str, str, str]:
    """A known customer's new request in 1C: (local id, 1C ref, number, sender)."""
    with desk.app.store.transaction() as s:
        contact = s.scalars(
            select(ContactRow)
            .where(ContactRow.email.is_not(None), ContactRow.customer_id.is_not(None))
            .order_by(ContactRow.id)
        ).first()
        assert contact is not None
        sender = f"{contact.name} <{contact.email}>"
    desk.send(mail(sender, subject, "Касса не работает с утра.", Message_ID=key))
    desk.cycle()
    [doc] = desk.ours()
    with desk.app.store.transaction() as s:
        ticket_id = s.scalars(select(InboxRow.ticket_id).where(InboxRow.message_id == key)).one()
        ticket = s.get(TicketRow, ticket_id)
        assert ticket is not None
        assert ticket.number == doc["Number"]
    return ticket_id, doc["Ref_Key"], doc["Number"], sender


def test_a_customers_reply_is_noted_once_in_the_request_in_1c_even_when_the_first_create_is_lost(
    desk: Desk,
) -> None:
    ticket_id, ref, number, sender = registered(desk, "Не работает касса", "<t1@client.example>")
    before = len(desk.emulator.records(NOTES))
    # 1C creates the note but its answer never arrives (the client gives up after 2 s)
    desk.emulator.inject("timeout", seconds=3, method="POST", entity_set=NOTES, count=1)
    desk.send(
        mail(
            sender,
            f"Re: Обращение {number}",
            "Перезагрузили, всё равно не работает.",
            Message_ID="<t2@client.example>",
        )
    )
    desk.cycle()
    deadline = time.monotonic() + 10
    while len(desk.emulator.records(NOTES)) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    for _ in range(2):  # the retry finds the note by its key: bound, not created again
        desk.clock.at += timedelta(hours=1)
        desk.cycle()
    with desk.app.store.transaction() as s:
        inbox = s.scalars(
            select(InboxRow).where(InboxRow.message_id == "<t2@client.example>")
        ).one()
        assert (inbox.state, inbox.ticket_id) == ("threaded", ticket_id)
        note = s.get(NoteRow, inbox.decision["note"])
        assert note is not None
        assert (note.ticket_id, note.channel, note.source_key) == (
            ticket_id,
            "email",
            "intake:<t2@client.example>",
        )
        remote = s.scalar(
            select(BindingRow.remote_id).where(
                BindingRow.model == "note",
                BindingRow.local_id == note.id,
                BindingRow.state == "active",
            )
        )
        assert (
            s.scalar(
                select(OutboxRow.state).where(
                    OutboxRow.model == "note", OutboxRow.local_id == note.id
                )
            )
            == "sent"
        )
    written = [r for r in desk.emulator.records(NOTES) if r["Предмет"] == ref]
    assert len(written) == 1, written  # once, though the first create's answer was lost
    (in_1c,) = written
    assert in_1c["Ref_Key"] == remote
    assert in_1c["Предмет_Type"] == "StandardODATA.Document_Интерес"
    assert in_1c["ТекстСодержания"].startswith(f"Re: Обращение {number}")
    assert "всё равно не работает" in in_1c["ТекстСодержания"]
    assert in_1c["Description"].endswith(sender[sender.index("<") :])  # who wrote it: the customer
    assert len(desk.emulator.records(NOTES)) == before + 1


REPLIES = """    models: [customer, contact, agent, ticket, note, mail]
    create_remote: [ticket]
    post_created: [ticket]
    timeout: {connect: 2, read: 2}
"""


def test_an_agents_reply_written_in_1c_ends_the_next_response_clock_the_customers_message_started(
    tmp_path: Path,
) -> None:
    with open_desk(tmp_path, REPLIES) as desk:
        ticket_id, ref, number, sender = registered(desk, "Вопрос по оплате", "<p1@client.example>")
        desk.acknowledged()
        desk.send(
            mail(
                sender,
                f"Re: Обращение {number}",
                "Когда будет счёт?",
                Message_ID="<p2@client.example>",
            )
        )
        desk.cycle()
        desk.emulator.reply(ref, "Черновик ответа", status="Черновик")  # not sent: no reply yet
        desk.cycle()
        assert messages(desk, ticket_id) == ["customer"]
        assert next_response(desk, number)["ended_at"] is None
        # 1C keeps a document's date to the second: an answer written within the second the
        # customer's message was received would read back as older than it. An agent takes
        # longer; the test waits until the emulated base's own clock (started a moment after
        # the wall clock it was given) is past the next whole second.
        received = datetime.now(UTC).astimezone(MOSCOW).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        while desk.emulator.clock() < received:
            time.sleep(0.05)
        letter = desk.emulator.reply(ref, "Счёт выставлен, отправили на почту.")
        for _ in range(2):  # a second import of the same letter records nothing more
            desk.clock.at += timedelta(minutes=1)
            desk.cycle()
        assert messages(desk, ticket_id) == ["customer", "agent"]
        with desk.app.store.transaction() as s:
            [event] = s.scalars(
                select(TicketEventRow).where(
                    TicketEventRow.ticket_id == ticket_id,
                    TicketEventRow.data["author"].as_string() == "agent",
                )
            )
            agent = s.scalar(
                select(BindingRow.local_id).where(
                    BindingRow.model == "agent", BindingRow.remote_id == letter["Автор_Key"]
                )
            )
            assert event.data["agent_id"] == agent
            assert event.origin == "remote:demo-1c"
        cycle = next_response(desk, number)
        assert cycle["ending"]["by"] == "the agent's answer"
        assert cycle["state"] == "met"
        assert datetime.fromisoformat(cycle["ended_at"]) == event.at


def messages(desk: Desk, ticket_id: int) -> list[str]:
    with desk.app.store.transaction() as s:
        return [
            e.data["author"]
            for e in s.scalars(
                select(TicketEventRow)
                .where(TicketEventRow.ticket_id == ticket_id, TicketEventRow.kind == "message")
                .order_by(TicketEventRow.at)
            )
        ]


def next_response(desk: Desk, number: str) -> dict[str, Any]:
    """The request's first next-response cycle as ``crm-bridge sla explain --json`` tells it."""
    cli = [sys.executable, "-m", "crm_bridge", "-c", str(desk.config_path)]
    done = subprocess.run(
        [*cli, "sla", "explain", number, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    story = json.loads(done.stdout)
    return next(c for c in story["cycles"] if c["metric"] == "next_response")
