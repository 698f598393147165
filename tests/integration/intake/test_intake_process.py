"""The intake job on a store alone: a flood is cut off, one bad message never stops the
others, and configuration mistakes are named at their line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import intake.process
from crm_bridge.app import App
from crm_bridge.config import ConfigErrors
from crm_bridge.store.records import build_record, create_record
from crm_bridge.store.tables import ContactRow, TicketRow
from intake.inbox import store_message
from intake.tables import InboxRow


def raw(n: int, sender: str = "flood@spam.example", subject: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = sender, subject or f"Письмо {n}", f"<p{n}@client>"
    msg.set_content("текст")
    return msg.as_bytes()


@pytest.fixture
def app(store_url: str) -> Iterator[App]:
    """On SQLite and on PostgreSQL: row locks, SAVEPOINTs and the unique Message-ID on both."""
    bridge = App.from_text(f"store: {{url: '{store_url}'}}\nintake: {{flood: {{messages: 3, within: 1h}}}}\n")
    bridge.upgrade_db()
    yield bridge
    bridge.close()


def states(app: App) -> dict[str, tuple[str, str | None]]:
    with app.store.transaction() as s:
        return {r.message_id: (r.state, r.reason) for r in s.scalars(select(InboxRow).order_by(InboxRow.id))}


@pytest.mark.postgres
def test_a_flood_from_one_sender_is_cut_off_with_the_reason(app: App) -> None:
    for n, subject in enumerate(["Касса", "Принтер", "Доступ в 1С", "Отчёт", "Счёт"]):
        store_message(app.store, raw(n, subject=subject), via="smtp")
    assert app.run_job("intake.process") == {"registered": 3, "ignored": 2}
    found = states(app)
    assert [state for state, _ in found.values()] == ["registered"] * 3 + ["ignored"] * 2
    reason = found["<p4@client>"][1]
    assert reason is not None
    assert reason.startswith("flood: 3 messages from flood@spam.example within 1:00:00 already")


@pytest.mark.postgres
def test_one_message_that_cannot_be_decided_is_parked_and_the_rest_go_on(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    real = intake.process.classify

    def broken_on_the_second(rules, facts, **kwargs):  # type: ignore[no-untyped-def]
        if facts.subject == "сломается":
            raise RuntimeError("a rule blew up")
        return real(rules, facts, **kwargs)

    monkeypatch.setattr(intake.process, "classify", broken_on_the_second)
    store_message(app.store, raw(1, "a@x.example", "первое"), via="smtp")
    store_message(app.store, raw(2, "b@x.example", "сломается"), via="smtp")
    store_message(app.store, raw(3, "c@x.example", "третье"), via="smtp")
    assert app.run_job("intake.process") == {"registered": 2, "failed": 1}
    assert states(app)["<p2@client>"] == ("failed", "RuntimeError: a rule blew up")
    with app.store.transaction() as s:  # the failed one created nothing: its transaction rolled back
        assert s.scalar(select(InboxRow.contact_id).where(InboxRow.message_id == "<p2@client>")) is None
        emails = set(s.scalars(select(ContactRow.email)))
        assert emails == {"a@x.example", "c@x.example"}  # the contact made for the failed one went with it


def test_a_rule_that_decides_nothing_is_an_error_at_its_line(tmp_path: Path) -> None:
    text = "intake:\n  rules:\n    - {name: vip, keywords: [срочно]}\n"
    with pytest.raises(ConfigErrors) as err:
        App.from_text(text, file="crm-bridge.yaml")
    assert str(err.value).startswith("crm-bridge.yaml:3:")
    assert "rule 'vip' decides nothing: give it `type:`, `priority:` or both" in str(err.value)


def test_a_misspelt_type_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    text = "intake:\n  rules:\n    - {name: vip, keywords: [срочно], type: urgnet}\n"
    with pytest.raises(ConfigErrors) as err:
        App.from_text(text, file="crm-bridge.yaml")
    assert str(err.value).startswith("crm-bridge.yaml:3:")
    assert "urgent" in str(err.value)


def test_two_rules_of_one_name_are_an_error_at_the_second(tmp_path: Path) -> None:
    text = "intake:\n  rules:\n    - {name: vip, type: urgent}\n    - {name: vip, priority: high}\n"
    with pytest.raises(ConfigErrors) as err:
        App.from_text(text, file="crm-bridge.yaml")
    assert str(err.value).startswith("crm-bridge.yaml:4:")
    assert "two rules are named 'vip'" in str(err.value)


# Messages whose decisions depend on the ones decided before them in the same run: a
# repeat of a request registered a moment before (a known contact, and a stranger whose
# contact is created by the first message), a reply by number that brings an old request
# back into the repeat window, a flood, the customer's segment in the rules.
ORDERED = [  # (minutes after the first, sender, subject)
    (0, "stranger@new.example", "Касса не работает"),
    (15, "ivan@vip.example", "Не печатает принтер"),
    (30, "stranger@new.example", "Re: Касса не работает"),  # repeat of the first: a contact made in this run
    (45, "ivan@vip.example", "Fwd: Не печатает принтер"),  # repeat of the second
    (60, "ivan@vip.example", "Re: [CRM-0000042] Склад"),  # joins request 42 by its number: its last contact moves
    (75, "ivan@vip.example", "Склад"),  # a repeat of 42 only because the reply above moved it into the window
    (90, "flood@spam.example", "Письмо 1"),
    (91, "flood@spam.example", "Письмо 2"),
    (92, "flood@spam.example", "Письмо 3"),
    (93, "flood@spam.example", "Письмо 4"),  # the fourth within 40 minutes: ignored
    (150, "office@vip.example", "Вопрос по оплате"),  # the customer's own address: its segment decides
    (165, "ivan@vip.example", "Не печатает принтер"),  # a repeat again, after other messages
]


def _decided_in_runs(url: str, batch: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Decide ORDERED in the fresh store `url`, `batch` messages a run; the inbox and tickets after."""
    bridge = App.from_text(f"store: {{url: '{url}'}}\n"
                           "intake: {flood: {messages: 3, within: 40m}, repeat_window: 3d, batch: " + str(batch) + ",\n"
                           "         rules: [{name: vip, segments: [vip], priority: high}]}\n")
    bridge.upgrade_db()
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    try:
        with bridge.store.transaction() as s:
            customer = create_record(s, "customer", {"name": "ВИП", "email": "office@vip.example", "segment": "vip"})
            contact = create_record(s, "contact", {"name": "Иван", "email": "ivan@vip.example", "customer_id": customer})
            old = build_record("ticket", {"number": "CRM-0000042", "subject": "Склад", "description": "", "type": "other",
                                          "priority": "normal", "channel": "email", "source": "external", "status": "new",
                                          "customer_id": customer, "contact_id": contact,
                                          "created_at": start - timedelta(days=10)})
            s.add(old)
        for n, (minutes, sender, subject) in enumerate(ORDERED):
            store_message(bridge.store, raw(n, sender, subject), via="smtp", now=start + timedelta(minutes=minutes))
        runs = 0
        while bridge.run_job("intake.process", now=start + timedelta(hours=3)):
            runs += 1
        with bridge.store.transaction() as s:
            inbox = [(r.message_id, r.state, r.reason, r.ticket_id, r.customer_id, r.contact_id, r.decision)
                     for r in s.scalars(select(InboxRow).order_by(InboxRow.id))]
            tickets = [(t.id, t.subject, t.priority, t.customer_id, t.contact_id)
                       for t in s.scalars(select(TicketRow).order_by(TicketRow.id))]
        return inbox, tickets, runs
    finally:
        bridge.close()


@pytest.mark.postgres
def test_a_run_decides_its_messages_as_if_each_were_decided_alone(store_url: str, tmp_path: Path) -> None:
    alone, alone_tickets, runs = _decided_in_runs(f"sqlite:///{tmp_path / 'alone.db'}", batch=1)
    together, together_tickets, one_run = _decided_in_runs(store_url, batch=100)
    assert (runs, one_run) == (len(ORDERED), 1)
    assert together == alone
    assert together_tickets == alone_tickets
    states = [(state, (decision.get("thread") or {}).get("repeat")) for _, state, _, _, _, _, decision in together]
    assert states == [("registered", None), ("registered", None), ("threaded", True), ("threaded", True),
                      ("threaded", False), ("threaded", True), ("registered", None), ("registered", None),
                      ("registered", None), ("ignored", None), ("registered", None), ("threaded", True)]
    assert together[5][3] == 1  # the old request, by its number's reply
    assert [t[2] for t in together_tickets if t[3] is not None] == ["normal", "high", "high"]


@pytest.mark.postgres
def test_a_message_failing_after_its_request_was_numbered_leaves_no_request_and_takes_no_number_twice(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request is numbered before it is written (SQLite: ``new_id``; written with the rest
    at the SAVEPOINT's release): a message failing after that leaves no request, and each
    other message's request is written under its own number."""
    real = intake.process._attachments

    def broken_on_the_second(unit, row, inbound, ticket_id, listed):  # type: ignore[no-untyped-def]
        if inbound.subject == "сломается":
            raise RuntimeError("the file store is gone")
        return real(unit, row, inbound, ticket_id, listed)

    monkeypatch.setattr(intake.process, "_attachments", broken_on_the_second)
    for n, subject in enumerate(["первое", "сломается", "третье", "четвёртое"], start=1):
        store_message(app.store, raw(n, f"{n}@x.example", subject), via="smtp")
    assert app.run_job("intake.process") == {"registered": 3, "failed": 1}
    assert states(app)["<p2@client>"] == ("failed", "RuntimeError: the file store is gone")
    with app.store.transaction() as s:
        registered = {message: i for message, i in s.execute(
            select(InboxRow.message_id, InboxRow.ticket_id).where(InboxRow.state == "registered")).all() if i is not None}
        tickets = dict(s.execute(select(TicketRow.id, TicketRow.subject)).all())
    assert sorted(tickets.values()) == ["первое", "третье", "четвёртое"]
    assert {message: tickets[i] for message, i in registered.items()} == {
        "<p1@client>": "первое", "<p3@client>": "третье", "<p4@client>": "четвёртое"}
