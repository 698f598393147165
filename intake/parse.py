"""An inbound e-mail as the intake sees it: parsed from its bytes, never trusted.

Pure: bytes in, an ``Inbound`` out, no I/O. Parsed with the stdlib ``email`` package
(``policy=default``); the text comes from the first ``text/plain`` part, else the HTML
part converted to text (scripts and styles dropped); attachments are kept up to a size
limit, the rest are listed with the reason. A message nothing can be read from still
yields an ``Inbound`` (empty text, the defect in ``problems``): the loop never stops on one.

Example::

    inbound = parse_message(raw, max_attachment=5_000_000)
    inbound.sender          # "ivanova@romashka.ru"
    inbound.automatic       # "Auto-Submitted: auto-replied": never registered, never answered
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

__all__ = ["Attachment", "Envelope", "Inbound", "html_to_text", "parse_envelope", "parse_message"]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None: over the size limit, not kept (the reason in Inbound.problems)


@dataclass(frozen=True)
class Inbound:
    message_id: str
    sender: str  # the address, lower-cased ("" when the From header cannot be read)
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    in_reply_to: tuple[str, ...] = ()  # In-Reply-To, then References: Message-IDs with <>
    automatic: str | None = None  # why this is an auto-reply or a bounce (RFC 3834), else None
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = field(default=())


_MSGID = re.compile(r"<[^<>\s]+>")
_EW = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="  # an RFC 2047 encoded-word
# RFC 2047 §6.2: the white space (a fold included) between two adjacent encoded-words is
# not text. A sender folding a long name may split a word across two of them
# ("=?utf-8?b?…Кон?=\r\n =?utf-8?b?стантин…?="); Python 3.11's parser of address headers
# keeps that space in the display name ("Кон стантин", CPython gh-128110; Subject, an
# unstructured header, was always right), so it is taken out before the header is parsed.
_BETWEEN_EWS = re.compile(rf"({_EW})[ \t\r\n]+(?={_EW})")
_BOUNCERS = ("mailer-daemon", "postmaster")


class _RememberingPolicy(EmailPolicy):
    """``policy=default`` that parses each MIME structure header value once.

    Under ``policy=default`` every read of a header parses it again through the header
    registry, and the stdlib reads ``Content-Type`` many times per part (walking,
    ``get_content_type``, ``get_content``, ``get_content_disposition``): about ten parses a
    plain message, most of the parsing's cost. The few distinct values of these headers
    (``text/plain; charset=utf-8``…) are remembered, keyed by name and raw value; a parsed
    header is immutable, so sharing it changes nothing a caller can see. Only these
    headers: From, Subject or Message-ID differ per message and are read once.
    """

    _REMEMBERED = frozenset({"content-type", "content-transfer-encoding", "content-disposition", "mime-version"})

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        # a long value is parsed each time: a sender's megabyte header must not stay in memory
        if hasattr(value, "name") or len(value) > _PARSED_LONGEST or name.lower() not in self._REMEMBERED:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        parsed = _PARSED.get(key)
        if parsed is None:
            if len(_PARSED) >= _PARSED_MAX:  # a bound, not an LRU: boundaries make values unique
                _PARSED.clear()
            parsed = _PARSED[key] = super().header_fetch_parse(name, value)
        return parsed


_PARSED: dict[tuple[str, str], Any] = {}
_PARSED_MAX = 512
_PARSED_LONGEST = 300  # characters: a Content-Type with its boundary is well under
_POLICY = _RememberingPolicy()


class _Text(HTMLParser):
    """HTML → text: block elements become line breaks; script and style are dropped."""

    _SKIP = frozenset({"script", "style", "head", "title"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "blockquote"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: no tags, no scripts, no styles."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _content(part: Message) -> str:
    """A text part's content; a wrong or unknown charset falls back to cp1251, then latin-1."""
    try:
        return str(part.get_content()) if isinstance(part, EmailMessage) else ""
    except (LookupError, UnicodeDecodeError, AssertionError):
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        for charset in ("utf-8", "cp1251"):
            try:
                return raw.decode(charset)
            except UnicodeDecodeError:
                continue
        return raw.decode("latin-1")


def _automatic(msg: Message, sender: str, present: frozenset[str]) -> str | None:
    """Why `msg` is machine-written (RFC 3834 and the usual marks), else None. Only the
    headers `present` are read: each read of a header parses it (policy=default)."""
    if "auto-submitted" in present:
        auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
        if auto and auto != "no":
            return f"Auto-Submitted: {auto}"
    if sender.split("@")[0] in _BOUNCERS:
        return f"from {sender}: a delivery report"
    if msg.get_content_type() == "multipart/report":
        return "multipart/report: a delivery report"
    for header in ("x-autoreply", "x-autorespond"):
        if header in present and msg.get(header):
            return f"{header.title()}: an auto-reply"
    if "precedence" in present and (
        precedence := str(msg.get("Precedence", "")).strip().lower()
    ) in ("bulk", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    return None


def _header(
    msg: Message, name: str, problems: list[str], present: frozenset[str] | None = None
) -> str:
    """The header `name` decoded (its first occurrence; "" when absent or unreadable)."""
    if present is not None and name.lower() not in present:
        return ""
    try:
        raw = next((value for key, value in msg.raw_items() if key.lower() == name.lower()), None)
        if raw is None:
            return ""
        if "?=" in raw:
            raw = _BETWEEN_EWS.sub(r"\1", raw)
        return str(msg.policy.header_fetch_parse(name, raw) or "")  # as msg.get(name) reads it
    except (ValueError, TypeError, IndexError) as exc:  # a header the policy cannot parse
        problems.append(f"{name}: unreadable ({exc})")
        return ""


@dataclass(frozen=True)
class Envelope:
    """What storing a message needs: read from its headers alone, as ``parse_message`` reads them."""

    message_id: str
    sender: str
    sender_name: str
    subject: str


def _sender(msg: Message, raw: bytes, problems: list[str], present: frozenset[str]) -> tuple[str, str, str]:
    """The Message-ID (derived from the bytes when there is none: the same message
    delivered twice is the same id, so it is stored once), the sender's address and name."""
    ids = _MSGID.findall(_header(msg, "Message-ID", problems, present))
    message_id = (
        ids[0] if ids else f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@intake.invalid>"
    )
    name, sender = parseaddr(_header(msg, "From", problems))
    return message_id, sender.strip().lower() if "@" in sender else "", name.strip()


def _subject(msg: Message, problems: list[str]) -> str:
    return " ".join(_header(msg, "Subject", problems).split())


def _present(msg: Message) -> frozenset[str]:
    return frozenset(k.lower() for k in msg.keys())  # noqa: SIM118 - a Message is no dict: keys() reads no header


def parse_envelope(raw: bytes) -> Envelope:
    """The headers ``parse_message`` would give, without parsing the body: what a channel
    needs to store the message before it answers (the job parses it fully later)."""
    msg = BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
    message_id, sender, name = _sender(msg, raw, [], _present(msg))
    return Envelope(message_id, sender, name, _subject(msg, []))


def parse_message(
    raw: bytes, *, max_attachment: int = 10_000_000, max_text: int = 200_000
) -> Inbound:
    """Parse one message. Its Message-ID, when it has none, is derived from its bytes
    (the same message delivered twice is the same id, so it is stored once)."""
    problems: list[str] = []
    msg = BytesParser(policy=_POLICY).parsebytes(raw)
    problems += [type(d).__name__ for d in msg.defects]
    present = _present(msg)
    message_id, sender, name = _sender(msg, raw, problems, present)
    recipients = tuple(
        a.lower()
        for _, a in getaddresses([_header(msg, h, problems, present) for h in ("To", "Cc")])
        if "@" in a
    )
    replies = tuple(
        dict.fromkeys(
            _MSGID.findall(_header(msg, "In-Reply-To", problems, present))
            + _MSGID.findall(_header(msg, "References", problems, present))[::-1]
        )
    )
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = (
            part.get_content_disposition()
            if "content-disposition" in {k.lower() for k in part.keys()}  # noqa: SIM118
            else None
        )
        named = (
            disposition is not None or not kind.startswith("text/")
        ) and part.get_filename() is not None
        if disposition == "attachment" or (named and disposition != "inline"):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename() or "attachment"
            if len(data) > max_attachment:
                problems.append(
                    f"attachment {filename!r}: {len(data)} bytes, over the limit of {max_attachment}; not kept"
                )
                attachments.append(Attachment(filename, kind, len(data), None))
            else:
                attachments.append(Attachment(filename, kind, len(data), data))
        elif kind == "text/plain" and plain is None:
            plain = _content(part)
        elif kind == "text/html" and html is None:
            html = _content(part)
    text = plain if plain and plain.strip() else html_to_text(html) if html else ""
    if len(text) > max_text:
        problems.append(f"text cut at {max_text} characters (was {len(text)})")
        text = text[:max_text]
    return Inbound(
        message_id=message_id,
        sender=sender,
        sender_name=name,
        recipients=recipients,
        subject=_subject(msg, problems),
        text=text.strip(),
        in_reply_to=replies,
        automatic=_automatic(msg, sender, present),
        attachments=tuple(attachments),
        problems=tuple(problems),
    )
