"""Inbound mail parsed without trusting it: charsets, HTML, auto-replies, attachments."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import default

import pytest

import intake.parse
from intake.parse import _PARSED, html_to_text, parse_envelope, parse_message


def mail(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Иван Петров <Ivan@Romashka.ru>")
    msg["To"] = "support@example.ru"
    msg["Subject"] = headers.pop("Subject", "Не проходит оплата")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Добрый день! Оплата картой не проходит.")
    return msg


def test_sender_subject_and_text_are_read_and_the_address_lower_cased() -> None:
    inbound = parse_message(mail(Message_ID="<a1@romashka.ru>").as_bytes())
    assert (inbound.sender, inbound.sender_name) == ("ivan@romashka.ru", "Иван Петров")
    assert inbound.message_id == "<a1@romashka.ru>"
    assert inbound.subject == "Не проходит оплата"
    assert inbound.text == "Добрый день! Оплата картой не проходит."
    assert inbound.automatic is None


def test_a_message_without_message_id_gets_one_from_its_bytes_the_same_each_time() -> None:
    raw = mail().as_bytes()
    assert parse_message(raw).message_id == parse_message(raw).message_id
    assert parse_message(raw).message_id != parse_message(raw + b"\n").message_id


def test_cp1251_body_is_decoded() -> None:
    raw = (
        "From: a@b.ru\r\nSubject: =?windows-1251?B?" + "0uXx8g==" + "?=\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "Привет из 1251".encode("cp1251")
    inbound = parse_message(raw)
    assert inbound.subject == "Тест"
    assert inbound.text == "Привет из 1251"


def test_html_only_mail_becomes_text_without_scripts() -> None:
    msg = mail()
    msg.set_content(
        "<p>Касса <b>не работает</b></p><script>alert('x')</script><style>p{}</style><div>Спасибо</div>",
        subtype="html",
    )
    inbound = parse_message(msg.as_bytes())
    assert inbound.text == "Касса не работает\n\nСпасибо"
    assert "alert" not in inbound.text


def test_html_to_text_unescapes_entities() -> None:
    assert html_to_text("<p>a &lt; b &amp; c</p>") == "a < b & c"


def test_auto_replies_and_bounces_are_flagged_not_taken_for_customers() -> None:
    assert (
        parse_message(mail(Auto_Submitted="auto-replied").as_bytes()).automatic
        == "Auto-Submitted: auto-replied"
    )
    assert parse_message(mail(From="MAILER-DAEMON@mx.example.ru").as_bytes()).automatic is not None
    assert parse_message(mail(Precedence="bulk").as_bytes()).automatic == "Precedence: bulk"
    assert parse_message(mail(Auto_Submitted="no").as_bytes()).automatic is None


def test_reply_headers_give_the_ids_to_thread_on_in_reply_to_first() -> None:
    inbound = parse_message(
        mail(In_Reply_To="<n2@support>", References="<n1@support> <n2@support>").as_bytes()
    )
    assert inbound.in_reply_to == ("<n2@support>", "<n1@support>")


def test_an_attachment_over_the_limit_is_listed_not_kept() -> None:
    msg = mail()
    msg.add_attachment(b"x" * 100, maintype="application", subtype="pdf", filename="small.pdf")
    msg.add_attachment(b"y" * 5000, maintype="application", subtype="pdf", filename="big.pdf")
    inbound = parse_message(msg.as_bytes(), max_attachment=1000)
    small, big = inbound.attachments
    assert (small.filename, small.size, small.data) == ("small.pdf", 100, b"x" * 100)
    assert (big.filename, big.size, big.data) == ("big.pdf", 5000, None)
    assert any("big.pdf" in p and "over the limit" in p for p in inbound.problems)
    assert inbound.text == "Добрый день! Оплата картой не проходит."


def test_broken_base64_and_garbage_still_parse() -> None:
    raw = (
        b"From: a@b.ru\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n%%%not base64!!\r\n"
    )
    inbound = parse_message(raw)
    assert inbound.sender == "a@b.ru"
    assert parse_message(b"\x00\xff garbage").sender == ""


# A long non-ASCII header is folded into several encoded-words; a sender may split a word
# between two of them. The white space between adjacent encoded-words is not text
# (RFC 2047 §6.2): "Кон" + "стантин" is one word. The From and the first Subject lines are
# Python's own folding (base64, the fold inside a word); the last Subject line is Q-encoded.
FOLDED = (
    b"From: =?utf-8?b?0JrQvtC90YHRgtCw0L3RgtC40L3QvtC/0L7Qu9GM0YHQutC40Lkg0JrQvtC9?=\r\n"
    b" =?utf-8?b?0YHRgtCw0L3RgtC40L0g0JrQvtC90YHRgtCw0L3RgtC40L3QvtCy0LjRhw==?=\r\n"
    b" <K@Client.example>\r\n"
    b"To: support@example.ru\r\n"
    b"Subject: =?utf-8?b?0J3QtSDRgNCw0LHQvtGC0LDQtdGCINC/0LXRh9Cw0YLRjCDRgdGH0LU=?=\r\n"
    b" =?utf-8?b?0YLQvtCyLdGE0LDQutGC0YPRgCDQsiDQv9C+0LTRgNCw0LfQtNC10LvQtdC90Lg=?=\r\n"
    b"\t=?utf-8?q?=D0=B8_=D1=84=D0=B8=D0=BB?= =?utf-8?q?=D0=B8=D0=B0=D0=BB=D0=B0?= today\r\n"
    b"Message-ID: <fold1@client.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nx\r\n"
    b"--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment;\r\n"
    b" filename*0*=utf-8''%D0%A1%D1%87%D1%91%D1%82-%D1%84%D0%B0;\r\n"  # continuations of RFC 2231,
    b" filename*1*=%D0%BA%D1%82%D1%83%D1%80%D0%B0%20%D0%9A%D0%BE%D0%BD%D1;\r\n"  # a letter split
    b" filename*2*=%81%D1%82%D0%B0%D0%BD%D1%82.pdf\r\n\r\neA==\r\n"  # between two of them
    b"--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="=?utf-8?b?0JDQutGCINCa0L7QvQ==?=\r\n'
    b' =?utf-8?b?0YHRgtCw0L3RgtC40L3QvtC/0L7Qu9GMLnBkZg==?="\r\n\r\neA==\r\n'
    b"--XX--\r\n"
)


def test_a_folded_long_cyrillic_name_and_subject_are_joined_without_a_space_inside_a_word() -> None:
    inbound = parse_message(FOLDED)
    assert (inbound.sender, inbound.sender_name) == (
        "k@client.example",
        "Константинопольский Константин Константинович",
    )
    assert inbound.subject == "Не работает печать счетов-фактур в подразделении филиала today"
    assert [a.filename for a in inbound.attachments] == [
        "Счёт-фактура Констант.pdf",
        "Акт Константинополь.pdf",
    ]


def test_white_space_between_an_encoded_word_and_plain_text_stays() -> None:
    raw = (
        b"From: Ivan =?utf-8?b?0J/QtdGC?=\r\n =?utf-8?b?0YDQvtCy?= Jr =?utf-8?q?=D0=98=D0=B2?= <i@x.ru>\r\n"
        b"Subject: =?utf-8?q?=D0=9E=D0=B1_?=\r\n =?utf-8?q?=D0=B8?= plain =?utf-8?q?=D0=BA?=\r\n\r\nx\r\n"
    )
    inbound = parse_message(raw)
    assert inbound.sender_name == "Ivan Петров Jr Ив"
    assert inbound.subject == "Об и plain к"


def test_an_address_inside_the_encoded_words_of_a_name_does_not_change_the_sender() -> None:
    # the name is "Иванов," + " boss@bank.ru"
    raw = (
        b"From: =?utf-8?b?0JjQstCw0L3QvtCyLA==?=\r\n =?utf-8?b?IGJvc3NAYmFuay5ydQ==?= <i@x.ru>\r\n"
        b"Subject: s\r\n\r\nx\r\n"
    )
    inbound = parse_message(raw)
    assert (inbound.sender, inbound.sender_name) == ("i@x.ru", "Иванов, boss@bank.ru")


def _variety() -> list[bytes]:
    """Messages whose headers are read in every way parse_message reads them."""
    folded = (
        "From: =?utf-8?b?0JrQvtC9?=\r\n =?utf-8?b?0YHRgtCw0L3RgtC40L0=?= <K@Firm.ru>\r\n"
        "Subject: =?utf-8?b?0KHRh9GR0YI=?= =?utf-8?b?INC90LUg0L/RgNC40YjRkdC7?=\r\n"
        "Message-ID: <f1@firm.ru>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nтекст"
    ).encode()
    with_file = mail(Message_ID="<att@x>")
    with_file.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="счёт.pdf")
    return [
        mail(Message_ID="<a1@romashka.ru>").as_bytes(),
        mail().as_bytes(),  # no Message-ID: derived from the bytes
        mail(From="not an address").as_bytes(),
        folded,
        with_file.as_bytes(),
        b"From: a@b.ru\r\nSubject: x\r\nContent-Type: text/plain; charset=nonsense\r\n\r\n\xcf\xf0\xe8",
    ]


def test_the_envelope_read_from_the_headers_alone_is_what_the_full_parse_reads() -> None:
    for raw in _variety():
        full, envelope = parse_message(raw), parse_envelope(raw)
        assert (envelope.message_id, envelope.sender, envelope.sender_name, envelope.subject) == (
            full.message_id, full.sender, full.sender_name, full.subject), raw


def test_remembered_mime_headers_change_no_parse_of_messages_that_share_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read twice over, the messages reuse each other's Content-Type values from the memo;
    # each must still read as the stdlib's policy=default reads it alone.
    messages = _variety()
    with monkeypatch.context() as patched:
        patched.setattr(intake.parse, "_POLICY", default)
        alone = [parse_message(raw) for raw in messages]
    _PARSED.clear()
    assert [parse_message(raw) for raw in messages * 2] == alone * 2
    assert 0 < len(_PARSED) < 20  # only the MIME headers are remembered, not each From or Subject


def test_a_huge_mime_header_is_parsed_but_not_remembered() -> None:
    _PARSED.clear()
    raw = mail(Message_ID="<big@x>").as_bytes().replace(
        b"charset=\"utf-8\"", b"charset=\"utf-8\"; x-pad=\"" + b"a" * 100_000 + b"\"", 1)
    assert b"x-pad" in raw
    assert parse_message(raw).text == "Добрый день! Оплата картой не проходит."
    assert all(len(value) <= 300 for _, value in _PARSED)
