"""The e-mail channel: build a message and hand it to an SMTP server.

SMTP's answers become crm-bridge's errors in one place (``_translated``):

* a 4xx answer, a dropped connection, a timeout — ``MailUnavailable`` (retryable), with a
  least wait in ``retry_after``: SMTP has no Retry-After header, so the code stands for
  one (greylisting — 450/451 — wants minutes, not seconds);
* a 5xx answer — ``MailRejected``: the same mail gets the same answer; the row is parked;
* 530/534/535 (authentication) — ``MailLoginFailed``: only an administrator fixes it; the
  rows wait without spending attempts.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import ClassVar

from crm_bridge.errors import RemoteRejected, RemoteUnavailable
from notify.settings import EmailChannel
from notify.templates import Rendered

__all__ = ["MailLoginFailed", "MailRejected", "MailUnavailable", "Mailer", "build_message"]

# The least wait, in seconds, an SMTP 4xx code stands for (the others: 60).
WAIT_FOR = {421: 300.0, 450: 300.0, 451: 300.0, 452: 900.0}


class MailUnavailable(RemoteUnavailable):
    """The SMTP server answered 4xx, dropped the connection or did not answer: retry."""


class MailRejected(RemoteRejected):
    """The SMTP server answered 5xx: the same mail would get the same answer."""


class MailLoginFailed(RemoteUnavailable):
    """The SMTP server refused the login: the password or the account needs a person."""

    administrative: ClassVar[bool] = True


def build_message(channel: EmailChannel, rendered: Rendered, *, to: str, to_name: str | None, message_id: str,
                  thread_root: str | None, date: datetime, unsubscribe: str | None) -> EmailMessage:
    """The mail: plain text with an HTML alternative, threaded under `thread_root`
    (In-Reply-To and References), with RFC 8058 one-click unsubscribe when a URL is given."""
    msg = EmailMessage()
    msg["From"] = channel.sender
    msg["To"] = Address(display_name=to_name or "", addr_spec=to)
    if channel.reply_to:
        name, addr = getaddresses([channel.reply_to])[0]
        msg["Reply-To"] = Address(display_name=name, addr_spec=addr)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if thread_root is not None and thread_root != message_id:
        msg["In-Reply-To"] = thread_root
        msg["References"] = thread_root
    if unsubscribe is not None:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders do not answer it
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


class Mailer:
    """One SMTP session, opened at the first mail and reused for the rest of a pass.

    Example::

        with Mailer(config.email) as mailer:
            mailer.send(message)          # raises MailUnavailable / MailRejected / MailLoginFailed
    """

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage) -> None:
        """Hand `message` over; returns once the server accepted it (250 after DATA)."""
        with self._translated():
            smtp = self._session()
            refused = smtp.send_message(message)
            if refused:  # one recipient per mail: a refusal is the whole mail's
                code, text = next(iter(refused.values()))
                raise smtplib.SMTPResponseException(code, text)

    def _session(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp.close()
            self._smtp = None
        c = self.channel
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if c.tls == "tls":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=context)
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            if c.tls == "starttls":
                smtp.starttls(context=context)
        if c.username is not None and c.password is not None:
            smtp.login(c.username, c.password.get_secret_value())
        self._smtp = smtp
        return smtp

    @contextmanager
    def _translated(self) -> Iterator[None]:
        where = f"SMTP {self.channel.host}:{self.channel.port}"
        try:
            yield
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            raise MailLoginFailed(f"{where}: login as {self.channel.username!r} refused ({exc.smtp_code} "
                                  f"{_text(exc.smtp_error)}); check notify.email.username and password; will retry") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _answer(where, code, text) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self._drop()
            raise _answer(where, exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            self._drop()
            raise MailLoginFailed(f"{where}: {exc}; check notify.email.tls; will retry") from exc
        except (smtplib.SMTPException, OSError) as exc:  # dropped, refused, timed out, TLS failed
            self._drop()
            raise MailUnavailable(f"{where}: no answer ({type(exc).__name__}: {exc}); will retry") from exc

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _answer(where: str, code: int, text: bytes | str) -> MailUnavailable | MailRejected | MailLoginFailed:
    said = f"{where} answered {code} {_text(text).strip()}"
    if code in (530, 534, 535):  # authentication required / too weak / refused
        return MailLoginFailed(f"{said}; check notify.email.username, password and tls; will retry")
    if 400 <= code < 500:
        return MailUnavailable(f"{said}; will retry", retry_after=WAIT_FOR.get(code, 60.0))
    return MailRejected(said)
