"""A web form's or an API call's request, turned into the message every channel stores.

Pure: fields in, bytes out, no I/O. A submission becomes an RFC 5322 message (From the
person, the subject, a text body that lists the phone so the matcher finds it,
attachments as MIME parts: kept exactly as a mail's are) under a Message-ID of its own;
``intake.inbox.store_message`` stores it and ``intake.process`` decides it like a mail.
So there is one registration path. Also here: the form's per-address rate limit and the
API's idempotency key → Message-ID rule.

Example::

    sub = Submission("Иванова Мария", "m.ivanova@romashka.ru", "+7 916 123-45-67", "Не работает", "…")
    raw = to_message(sub, message_id=new_message_id("web"), now=now)
    store_message(store, raw, via="web", channel="web_form", facts=sub.facts("external"))
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

__all__ = [
    "DOMAIN",
    "FileIn",
    "RateLimiter",
    "Submission",
    "idempotent_message_id",
    "new_message_id",
    "reference_of",
    "to_message",
]

DOMAIN = "intake.crm-bridge.invalid"  # our own Message-IDs: never a real host (RFC 2606)


@dataclass(frozen=True)
class FileIn:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Submission:
    name: str
    email: str
    phone: str
    subject: str
    description: str
    files: tuple[FileIn, ...] = ()
    # the API's `fields`: kept, shown in the text
    extra: dict[str, str] = field(default_factory=dict)

    def facts(self, source: str, **more: str) -> dict[str, str]:
        """What the inbox row keeps beside the message: the source and the typed fields."""
        return {"source": source, "name": self.name, "phone": self.phone, **more}


def new_message_id(channel: str) -> str:
    return f"<{channel}.{secrets.token_hex(12)}@{DOMAIN}>"


def idempotent_message_id(caller: str, key: str) -> str:
    """The Message-ID of `caller`'s request under `key`: the same key is the same inbox row
    (its unique Message-ID), so a retried call never stores a second request."""
    digest = hashlib.sha256(f"{caller}\0{key}".encode()).hexdigest()[:40]
    return f"<api.{digest}@{DOMAIN}>"


def reference_of(inbox_id: int) -> str:
    """The registration reference a caller or a form's sender is shown at once (``IN-0000017``)."""
    return f"IN-{inbox_id:07d}"


def to_message(sub: Submission, *, message_id: str, now: datetime, channel_name: str) -> bytes:
    """The message `sub` is stored as. `now` must be aware (the Date header)."""
    if now.tzinfo is None:
        problem = "to_message needs an aware `now`"
        raise ValueError(problem)
    msg = EmailMessage()
    # a line break in a name or a subject is a space: it cannot add a header
    name, subject = " ".join(sub.name.split()), " ".join(sub.subject.split())
    msg.set_raw("From", _mailbox(name, sub.email))
    msg["To"] = f"intake@{DOMAIN}"
    msg.set_raw("Subject", _folded(subject, "Subject"))
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["X-Crm-Bridge-Channel"] = channel_name
    lines = [sub.description.strip(), ""]
    if sub.phone:
        lines.append(f"Телефон / Phone: {sub.phone}")
    lines += [f"{k}: {v}" for k, v in sorted(sub.extra.items())]
    msg.set_content("\n".join(lines).strip() + "\n")
    for f in sub.files:
        main, _, sub_type = (f.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            f.data,
            maintype=main or "application",
            subtype=sub_type or "octet-stream",
            filename=f.filename or "attachment",
        )
    raw: bytes = msg.as_bytes()
    return raw


def _mailbox(name: str, email: str) -> str:
    """The From value: the name (quoted when ASCII with specials, else encoded-words) folded
    before the address."""
    address = formataddr(("", email))  # raises on CR or LF
    if not name:
        return address
    phrase = formataddr((name, email)).rpartition(" <")[0] if name.isascii() else name
    return f"{_folded(phrase, 'From')}\n <{address}>"


def _folded(text: str, header: str) -> str:
    """`text` as a header value folded by RFC 5322 and RFC 2047 rules: non-ASCII text in
    encoded-words split between letters, each space inside an encoded-word (so a fold
    between two of them, which a reader drops, RFC 2047 §6.2, loses nothing).

    Not ``msg[header] = text``: Python 3.11's folding of a long non-ASCII header may end an
    encoded-word at a word's end and put that space between the words (a compliant reader,
    ours included, then joins the words: CPython gh-92081), and drops the quotes of a name
    with specials ("«Ромашка» x@y" became an address)."""
    if text.isascii():  # folded at spaces only: a fold after "," or ";" would add a space
        return Header(text, "us-ascii", header_name=header).encode(splitchars=" ", linesep="\n")
    return Header(text, "utf-8", header_name=header).encode(linesep="\n")


class RateLimiter:
    """At most `limit` submissions per client address within `within` (a sliding window).

    Kept in the web process's memory, not in the store: the form is served by one process
    (``crm-bridge web`` or ``run --web``), a refused bot costs no database write, and a
    restart forgetting the counts lets at most one more window through — the stored flood
    rule of ``intake.process`` (per sender address) still holds behind it. Pure: the
    caller passes `now`. Example::

        limiter = RateLimiter(5, timedelta(minutes=10))
        limiter.allow("203.0.113.7", now)     # True five times, then False until the window moves
    """

    def __init__(self, limit: int, within: timedelta, *, max_clients: int = 100_000) -> None:
        self.limit, self.within, self.max_clients = limit, within, max_clients
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, client: str, now: datetime) -> bool:
        hits = self._seen.setdefault(client, deque())
        while hits and hits[0] <= now - self.within:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        # a spray of addresses must not grow memory without end
        if len(self._seen) > self.max_clients:
            self._forget(now)
        return True

    def _forget(self, now: datetime) -> None:
        for client in [c for c, h in self._seen.items() if not h or h[-1] <= now - self.within]:
            del self._seen[client]
