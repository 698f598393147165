"""The intake job on a store alone: a flood is cut off, one bad message never stops the
others, and configuration mistakes are named at their line."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

import intake.process
from crm_bridge.app import App
from crm_bridge.config import ConfigErrors
from crm_bridge.store.tables import ContactRow
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
