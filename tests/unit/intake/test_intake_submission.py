"""The form's and the API's pure parts: the rate limit, the form's checks, the message a
submission is stored as (read back by the mail parser), the idempotency key's Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_bridge.app import App
from crm_bridge.config import ConfigError
from intake.form import read_form
from intake.parse import parse_message
from intake.settings import ApiChannel
from intake.submission import FileIn, RateLimiter, Submission, idempotent_message_id, to_message

NOW = datetime(2027, 1, 11, 9, 30, tzinfo=UTC)


def test_the_rate_limit_refuses_the_sixth_submission_and_lets_one_through_once_the_window_moved() -> (
    None
):
    limiter = RateLimiter(5, timedelta(minutes=10))
    assert [limiter.allow("203.0.113.7", NOW + timedelta(seconds=i)) for i in range(6)] == [
        True
    ] * 5 + [False]
    assert limiter.allow("198.51.100.1", NOW)  # another address has its own count
    assert not limiter.allow("203.0.113.7", NOW + timedelta(minutes=9))
    assert limiter.allow("203.0.113.7", NOW + timedelta(minutes=10, seconds=1))


def test_the_rate_limit_forgets_quiet_addresses_when_too_many_are_known() -> None:
    limiter = RateLimiter(1, timedelta(minutes=1), max_clients=3)
    for i in range(4):
        limiter.allow(f"10.0.0.{i}", NOW)
    limiter.allow("10.0.1.1", NOW + timedelta(minutes=2))
    assert len(limiter._seen) == 1  # noqa: SLF001


def test_the_form_names_each_missing_or_wrong_field() -> None:
    values, problems = read_form(
        {"name": "  ", "email": "not-an-address", "subject": "Касса", "description": "x" * 100_001}
    )
    assert problems == ["need_name", "need_email", "too_long"]
    values, problems = read_form(
        {"name": " Мария ", "email": "m@romashka.ru", "subject": "s", "description": "d"}
    )
    assert problems == []
    assert values["name"] == "Мария"


def test_a_submission_is_stored_as_a_message_the_mail_parser_reads_back_whole() -> None:
    sub = Submission(
        "Иванова Мария",
        "m.ivanova@romashka.ru",
        "+7 916 123-45-67",
        "Не работает касса",
        "Касса не печатает чеки.",
        (FileIn("чек.png", "image/png", b"\x89PNG" + bytes(100)),),
        {"order": "1733"},
    )
    inbound = parse_message(
        to_message(sub, message_id="<web.1@x.invalid>", now=NOW, channel_name="web_form")
    )
    assert (inbound.sender, inbound.sender_name, inbound.subject) == (
        "m.ivanova@romashka.ru",
        "Иванова Мария",
        "Не работает касса",
    )
    assert "+7 916 123-45-67" in inbound.text  # so the matcher can find the customer by phone
    assert "order: 1733" in inbound.text
    assert [(a.filename, a.size) for a in inbound.attachments] == [("чек.png", 104)]
    assert inbound.automatic is None
    with pytest.raises(ValueError, match="aware"):
        to_message(sub, message_id="<x@y>", now=NOW.replace(tzinfo=None), channel_name="web_form")


def test_one_idempotency_key_is_one_message_id_per_caller() -> None:
    assert idempotent_message_id("erp", "order-1") == idempotent_message_id("erp", "order-1")
    assert idempotent_message_id("erp", "order-1") != idempotent_message_id("portal", "order-1")
    assert idempotent_message_id("erp", "order-1") != idempotent_message_id("erp", "order-2")


def test_api_tokens_are_told_apart_in_constant_time_and_a_short_one_is_a_config_error_at_its_line() -> (
    None
):
    api = ApiChannel.model_validate(
        {"tokens": {"erp": "e" * 32, "portal": {"token": "p" * 32, "source": "external"}}}
    )
    assert api.caller("e" * 32) == ("erp", "internal")
    assert api.caller("p" * 32) == ("portal", "external")
    assert api.caller("x" * 32) is None
    text = "store: {url: 'sqlite://'}\nintake:\n  api:\n    tokens:\n      erp: short\n"
    with pytest.raises(ConfigError, match=r"crm-bridge.yaml:5.*intake.api.tokens.erp.*24\+"):
        App.from_text(text, file="crm-bridge.yaml")


def test_check_renders_the_form_and_its_thanks_page_and_names_a_broken_template(
    tmp_path: Path,
) -> None:
    from intake.form import check_pages

    app = App.from_text(
        f"store: {{url: 'sqlite://'}}\nweb: {{templates: {tmp_path}}}\n", file="crm-bridge.yaml"
    )
    (line,) = check_pages(app)
    assert line["ok"], line
    (tmp_path / "request_done.html").write_text(
        "{% extends 'base.html' %}{% block content %}{{ state.nope.x }}{% endblock %}",
        encoding="utf-8",
    )
    (line,) = check_pages(app)
    assert not line["ok"]
    assert "request_done.html" in line["detail"]


@pytest.mark.parametrize(
    "name",
    [
        "Константинопольский Константин Константинович",
        "Иван Константинопольский (ИП)",
        "Счёт-фактура д'Артаньян Жанна,",  # a fold at the end of a word: the space must survive
        "«Ромашка» x@y",  # specials: the address must stay the person's
        "Иванов, Иван  Сергеевич",
        "Abdurahmanov Константин van der Константинович оглы " * 3,
        "ООО «Рога и копыта» филиал Константинопольский, отдел закупок; ответственный: Петров",
    ],
)
def test_a_long_or_special_name_and_subject_come_back_whole_from_the_stored_message(
    name: str,
) -> None:
    subject = f"Не работает печать счетов-фактур: {name} — срочно " * 4
    file = FileIn(f"Счёт-фактура {name[:180]}.pdf", "application/pdf", b"%PDF")
    raw = to_message(
        Submission(name, "k@client.example", "", subject, "Текст", (file,)),
        message_id="<w@x.invalid>",
        now=NOW,
        channel_name="web_form",
    )
    inbound = parse_message(raw)
    assert (inbound.sender, inbound.sender_name) == ("k@client.example", " ".join(name.split()))
    assert inbound.subject == " ".join(subject.split())
    assert [a.filename for a in inbound.attachments] == [file.filename]
    assert inbound.problems == ()
    assert max(len(line) for line in raw.splitlines()) <= 78  # folded as RFC 5322 asks


def test_a_line_break_in_a_name_or_subject_cannot_add_a_header() -> None:
    sub = Submission(
        "Мария\r\nBcc: all@example.ru", "m@romashka.ru", "", "Тема\nX-Evil: 1", "Текст"
    )
    raw = to_message(sub, message_id="<w@x.invalid>", now=NOW, channel_name="web_form")
    inbound = parse_message(raw)
    assert (inbound.sender_name, inbound.subject) == ("Мария Bcc: all@example.ru", "Тема X-Evil: 1")
    assert b"\nBcc:" not in raw
    assert b"\nX-Evil:" not in raw


@pytest.mark.parametrize(
    "name", ["Ivan Petrov", 'Ivan "Vanya" Petrov, Jr.', "x" * 150, "", "Maria " * 30]
)
def test_an_ascii_name_is_kept_quoted_where_it_must_be(name: str) -> None:
    raw = to_message(
        Submission(name, "k@client.example", "", "Printer; broken, again", "t"),
        message_id="<w@x.invalid>",
        now=NOW,
        channel_name="api",
    )
    inbound = parse_message(raw)
    assert (inbound.sender, inbound.sender_name, inbound.subject) == (
        "k@client.example",
        " ".join(name.split()),
        "Printer; broken, again",
    )
    assert inbound.problems == ()
