"""Inbound mail parsed without trusting it: charsets, HTML, auto-replies, attachments."""

from __future__ import annotations

from email.message import EmailMessage

from intake.parse import html_to_text, parse_message


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
    raw = ("From: a@b.ru\r\nSubject: =?windows-1251?B?" + "0uXx8g==" + "?=\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
        + "Привет из 1251".encode("cp1251")
    inbound = parse_message(raw)
    assert inbound.subject == "Тест"
    assert inbound.text == "Привет из 1251"


def test_html_only_mail_becomes_text_without_scripts() -> None:
    msg = mail()
    msg.set_content("<p>Касса <b>не работает</b></p><script>alert('x')</script><style>p{}</style><div>Спасибо</div>",
                    subtype="html")
    inbound = parse_message(msg.as_bytes())
    assert inbound.text == "Касса не работает\n\nСпасибо"
    assert "alert" not in inbound.text


def test_html_to_text_unescapes_entities() -> None:
    assert html_to_text("<p>a &lt; b &amp; c</p>") == "a < b & c"


def test_auto_replies_and_bounces_are_flagged_not_taken_for_customers() -> None:
    assert parse_message(mail(Auto_Submitted="auto-replied").as_bytes()).automatic == "Auto-Submitted: auto-replied"
    assert parse_message(mail(From="MAILER-DAEMON@mx.example.ru").as_bytes()).automatic is not None
    assert parse_message(mail(Precedence="bulk").as_bytes()).automatic == "Precedence: bulk"
    assert parse_message(mail(Auto_Submitted="no").as_bytes()).automatic is None


def test_reply_headers_give_the_ids_to_thread_on_in_reply_to_first() -> None:
    inbound = parse_message(mail(In_Reply_To="<n2@support>", References="<n1@support> <n2@support>").as_bytes())
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
    raw = (b"From: a@b.ru\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n%%%not base64!!\r\n")
    inbound = parse_message(raw)
    assert inbound.sender == "a@b.ru"
    assert parse_message(b"\x00\xff garbage").sender == ""
