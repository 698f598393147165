"""A long Cyrillic name, subject and file name, folded by the sender into several
encoded-words (a word split between two), reach the CRM whole over a real SMTP delivery:
the white space between adjacent encoded-words is no text (RFC 2047 §6.2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_bridge.store.tables import ContactRow
from intake.tables import InboxRow
from tests.integration.intake.conftest import Desk, mail, open_desk

FILES = "Catalog_ИнтересПрисоединенныеФайлы"
BACKEND = """    models: [customer, contact, agent, ticket, attachment]
    create_remote: [ticket, attachment]
    post_created: [ticket]
    timeout: {connect: 2, read: 2}
"""
NAME = "Константинопольский Константин Константинович"
SUBJECT = "Не работает печать счетов-фактур в подразделении Константинопольского филиала"
FILE = "Счёт-фактура Константинопольскому филиалу за декабрь 2026 года.pdf"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with open_desk(tmp_path, BACKEND) as opened:
        yield opened


def test_a_folded_long_cyrillic_sender_subject_and_file_name_reach_1c_without_a_space_inside_a_word(
    desk: Desk,
) -> None:
    msg = mail(
        f"{NAME} <k@client.example>",
        SUBJECT,
        "Счета не печатаются.",
        Message_ID="<fold@client.example>",
    )
    msg.add_attachment(b"%PDF-1.4 test", maintype="application", subtype="pdf", filename=FILE)
    desk.send(msg)  # Python's own folding, as a customer's mail program would send it
    with desk.app.store.transaction() as s:
        raw = s.scalars(select(InboxRow.raw)).one()
    text = raw.replace(b"\r\n", b"\n").decode("utf-8")  # as delivered over SMTP: CRLF
    head = text.split("\n\n")[0]
    from_lines = head.split("From: ")[1].split("\nTo:")[0].splitlines()
    assert len(from_lines) >= 2, head  # the name really was folded into two encoded-words
    assert "filename*1*=" in text  # and the file name into RFC 2231 continuations

    desk.cycle()
    # the file waits (a minute at a time) for its request to reach 1C
    desk.clock.at += timedelta(minutes=5)
    desk.cycle()
    [doc] = desk.ours()
    assert doc["Тема"] == SUBJECT
    [stored] = desk.emulator.records(FILES)
    assert (stored["Description"], stored["Расширение"]) == (FILE.removesuffix(".pdf"), "pdf")
    with desk.app.store.transaction() as s:
        contact = s.scalars(select(ContactRow).where(ContactRow.email == "k@client.example")).one()
        assert contact.name == NAME  # the new contact intake created for the unknown sender
        row = s.scalars(select(InboxRow)).one()
        assert [a["filename"] for a in row.decision["attachments"]] == [FILE]
