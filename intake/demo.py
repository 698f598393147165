"""What ``crm-bridge demo`` shows of intake: a mail to the demo mailbox, the web form and an
API call each registered in 1C once, acknowledged in the customer's language, and the
customer's reply threaded into the same request.

The demo (``adapters/onec/cli.py``) finds both parts by registration, so the adapter
imports no intake: ``demo_config`` (usage ``demo.config``) gives the ``intake:`` section
the demo runs with — the SMTP receiver on a free local port (the demo mailbox), the form
``/request`` and an API token — and ``DemoIntake`` (usage ``demo.intake``) plays the
scene against the running demo: ``send`` (mail over SMTP, the form over HTTP with its
CSRF cookie and field, the API with its bearer token; the mail and the API call each
sent twice, as a client retries), ``register`` (the jobs that take them into 1C; the
demo's cycle then plans, assigns and acknowledges them), ``reply`` (the customer answers the acknowledgement they received)
and ``report``. Example::

    scene = DemoIntake(app)
    scene.send(web_url)
    scene.register()              # into 1C, numbered by 1C
    run_cycle(app)                # planned, assigned, written back, acknowledged
    scene.reply(sink.messages)
    scene.report(sink.messages)   # {"requests": [...], "reply": {...}, "api_token": ...}
"""

from __future__ import annotations

import re
import secrets
import smtplib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import func, select

from crm_bridge.app import App
from crm_bridge.store.tables import ContactRow, CustomerRow, TicketEventRow, TicketRow
from intake.settings import ApiToken, IntakeConfig
from intake.tables import InboxRow
from notify.prefs_store import change
from notify.tables import ContactPrefsRow, NotificationRow
from sync.tables import BindingRow

__all__ = ["DEMO_MAILBOX", "DemoIntake", "demo_config"]

DEMO_MAILBOX = "support@demo.example"
#: what takes the stored messages into the CRM: ``intake.process`` decides them, the sync
#: outbox's creates (the part of ``sync.dispatch`` that creates records born here,
#: bind-first, posted) put them in 1C, ``intake.confirm`` reads 1C's numbers and announces
#: them. The demo's cycle then plans them (due dates), assigns them, writes both back and
#: acknowledges them with the imported requests. (The whole ``sync.dispatch`` would also
#: re-read the 300 requests the import just queued, and again in the cycle: a second or two.)
REGISTER = ("intake.process", "sync.creates", "intake.confirm")
TIMEOUT = 30.0  # seconds: the demo's own local servers answer in milliseconds


def demo_config() -> str:
    """The ``intake:`` section of the demo: a free local port for the demo mailbox, the
    form on, and an API token made for this run (the ERP's: source ``internal``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return f"""
intake:    # the demo mailbox (a local SMTP receiver), the form /request and the API: each becomes a request in 1C
  smtp: {{host: 127.0.0.1, port: {port}, recipients: [{DEMO_MAILBOX}]}}
  web: {{}}
  api: {{tokens: {{erp: "{secrets.token_urlsafe(32)}"}}}}
  rules:   # the first that matches decides (keywords ru/en, by stem)
    - {{name: outage, keywords: [не работает, not working, авария], type: technical_problem, priority: high}}
    - {{name: billing, keywords: [оплата, счёт, invoice], type: consultation}}
"""


@dataclass(frozen=True)
class _Sent:
    channel: str  # how the person reached us: e-mail, web form, API
    contact_id: int
    subject: str
    reference: str | None = None  # the form's and the API's answer: IN-0000017
    retried: str | None = None  # the API's answer to the same call sent again: the same reference


class DemoIntake:
    """The demo's three inbound requests and the reply, against the running demo."""

    def __init__(self, app: App) -> None:
        self.app = app
        config: IntakeConfig = app.config.section("intake")
        if config.smtp is None or config.web is None or config.api is None:
            msg = "the intake demo needs intake.smtp, intake.web and intake.api (intake.demo.demo_config gives them)"
            raise ValueError(msg)
        self.config = config
        self.sent: list[_Sent] = []
        self.replied: dict[str, Any] = {}

    @property
    def api_token(self) -> str:
        """The demo's API token (made for this run: ``demo_config``)."""
        if self.config.api is None:
            return ""
        given = next(iter(self.config.api.tokens.values()))
        secret = given.token if isinstance(given, ApiToken) else given
        return secret.get_secret_value()

    def lines(self, web_url: str) -> list[str]:
        """What ``demo --keep-running`` prints to try intake by hand (the token is this run's)."""
        smtp = self.config.smtp
        assert smtp is not None  # noqa: S101 - checked in __init__
        return [
            f"The demo mailbox: {DEMO_MAILBOX} over SMTP at {smtp.host}:{smtp.port}; the request form: {web_url}/request",
            f"The intake API (token of this run): curl -X POST {web_url}/api/intake/requests -H 'Authorization: Bearer "
            f'{self.api_token}\' -H \'Content-Type: application/json\' -d \'{{"name": "Склад", "email": '
            f'"sklad@demo.example", "subject": "Не работает сканер", "description": "С утра"}}\'',
        ]

    # -- the people ------------------------------------------------------------------
    def _people(self) -> list[ContactRow]:
        """Three contacts of three customers, each with an address and a phone and no
        preferences of their own yet (notify's demo customer chose Telegram: not them)."""
        with self.app.store.transaction() as s:
            chose = select(ContactPrefsRow.contact_id)
            rows = s.scalars(
                select(ContactRow)
                .join(CustomerRow, CustomerRow.id == ContactRow.customer_id)
                .where(
                    ContactRow.email.is_not(None),
                    ContactRow.phone.is_not(None),
                    ~ContactRow.deleted,
                    ~CustomerRow.deleted,
                    ContactRow.id.not_in(chose),
                )
                .order_by(ContactRow.id.desc())
            ).all()  # notify's demo customer: the first
            chosen: list[ContactRow] = []
            for row in rows:
                if all(row.customer_id != c.customer_id for c in chosen):
                    chosen.append(row)
                if len(chosen) == 3:
                    break
            s.expunge_all()
        if len(chosen) < 3:
            msg = "the demo base has fewer than three customers with a contact's e-mail and phone"
            raise ValueError(msg)
        return chosen

    # -- step 1: the three channels --------------------------------------------------
    def send(self, web_url: str) -> None:
        """A mail from a known contact (ru; sent twice, as an SMTP client retries after a
        lost answer), the form from a second contact's phone under a private address, and
        an API call (the ERP's token, source internal; sent twice with one Idempotency-Key)
        about a third contact who chose English in their cabinet."""
        by_mail, by_form, by_api = self._people()
        smtp = self.config.smtp
        assert smtp is not None  # noqa: S101 - checked in __init__
        mail = EmailMessage()
        mail["From"], mail["To"] = formataddr((by_mail.name, by_mail.email or "")), DEMO_MAILBOX
        mail["Subject"], mail["Message-ID"] = (
            "Не проходит оплата по счёту",
            make_msgid(domain="demo.example"),
        )
        mail.set_content(
            "Добрый день! Оплата по счёту № 118 не проходит с утра, банк возвращает ошибку."
        )
        for _ in range(2):
            with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT) as client:
                client.send_message(mail)
        self.sent.append(_Sent("e-mail", by_mail.id, str(mail["Subject"])))

        browser = requests.Session()
        page = browser.get(f"{web_url}/request", headers={"Accept-Language": "ru"}, timeout=TIMEOUT)
        page.raise_for_status()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if csrf is None:
            msg = f"{web_url}/request: the form has no csrf field"
            raise ValueError(msg)
        subject = "Не работает выгрузка в 1С"
        done = browser.post(
            f"{web_url}/request",
            timeout=TIMEOUT,
            headers={"Accept-Language": "ru"},
            data={
                "csrf": csrf[1],
                "name": by_form.name,
                "email": "home.user@mail.demo.example",
                "phone": _spoken(by_form.phone or ""),
                "subject": subject,
                "description": "После обновления не работает выгрузка заказов в 1С, ошибка 500.",
                "website": "",
            },
            files={"files": ("", b"", "application/octet-stream")},
        )  # no file chosen, as a browser sends it
        done.raise_for_status()
        reference = re.search(r"IN-\d{7}", done.text)
        self.sent.append(
            _Sent("web form", by_form.id, subject, reference=reference[0] if reference else None)
        )

        with (
            self.app.store.transaction() as s
        ):  # the third customer chose English on their cabinet page
            contact = s.get(ContactRow, by_api.id)
            assert contact is not None  # noqa: S101 - read just now
            change(
                s,
                self.app.config.section("notify"),
                self.app.config.timezone,
                contact,
                {"language": "en"},
                source="web",
                now=self.app.clock(),
            )
        subject = "Scanner at the warehouse is not working"
        body = {
            "name": by_api.name,
            "email": by_api.email,
            "subject": subject,
            "description": "The barcode scanner at the main warehouse stopped working this morning.",
            "fields": {"order": "1733"},
        }
        answers = [
            requests.post(
                f"{web_url}/api/intake/requests",
                json=body,
                timeout=TIMEOUT,
                headers={
                    "Authorization": f"Bearer {self.api_token}",
                    "Idempotency-Key": "order-1733",
                },
            )
            for _ in range(2)
        ]
        for answer in answers:
            answer.raise_for_status()
        self.sent.append(
            _Sent(
                "API",
                by_api.id,
                subject,
                reference=str(answers[0].json()["reference"]),
                retried=str(answers[1].json()["reference"]),
            )
        )

    # -- step 2: into 1C -------------------------------------------------------------
    def register(self) -> dict[str, Any]:
        """Take the stored messages into 1C (``REGISTER``); what each step did, with its seconds."""
        done: dict[str, Any] = {}
        for index, name in enumerate(REGISTER):
            started = time.monotonic()
            did = self._creates() if name == "sync.creates" else self.app.run_job(name)
            done[f"{index + 1}. {name}"] = {**did, "seconds": round(time.monotonic() - started, 3)}
        return done

    def _creates(self) -> dict[str, Any]:
        from sync.creates import create_pending
        from sync.engine import mappings_for
        from sync.record import ExportStats

        done: dict[str, Any] = {}
        for name in self.app.enabled_backends():
            remote = self.app.backend(name)
            stats = ExportStats()
            create_pending(
                self.app.store,
                remote,
                mappings_for(remote, list(self.app.config.backends[name].models)),
                self.app.clock(),
                stats,
                limit=100,
            )
            done[name] = {
                "created": stats.created,
                "retried": stats.retried,
                "parked": stats.parked,
                "errors": stats.errors[:3],
            }
        return done

    # -- step 3: the customer answers ------------------------------------------------
    def reply(self, mailbox: Sequence[EmailMessage]) -> None:
        """The mail's sender answers the acknowledgement they received (In-Reply-To its
        Message-ID); intake threads it into the request, and the SLA plan sees it."""
        first = self.sent[0]
        ticket_id = self._ticket_of(first)
        ack = self._ack_mail(ticket_id, mailbox) if ticket_id is not None else None
        smtp = self.config.smtp
        if ack is None or smtp is None:
            self.replied = {
                "sent": False,
                "why": "no acknowledgement reached the demo mailbox to answer",
            }
            return
        answer = EmailMessage()
        answer["From"], answer["To"] = str(ack["To"]), DEMO_MAILBOX
        answer["Subject"], answer["Message-ID"] = (
            f"Re: {ack['Subject']}",
            make_msgid(domain="demo.example"),
        )
        answer["In-Reply-To"] = answer["References"] = str(ack["Message-ID"])
        answer.set_content(
            "Спасибо! Дополнение: ошибка банка — «Превышен лимит». Скриншот пришлю позже.\n\n> "
            + str(ack["Subject"])
        )
        with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT) as client:
            client.send_message(answer)
        self.app.run_job("intake.process")
        self.app.run_job("sla.tick")
        self.replied = {
            "sent": True,
            "ticket_id": ticket_id,
            "message_id": str(answer["Message-ID"]),
            "in_reply_to": str(ack["Message-ID"]),
        }

    # -- what it came to -------------------------------------------------------------
    def _ticket_of(self, sent: _Sent) -> int | None:
        with self.app.store.transaction() as s:
            return s.scalar(
                select(InboxRow.ticket_id)
                .where(InboxRow.subject == sent.subject, InboxRow.state == "registered")
                .limit(1)
            )

    def _ack_mail(self, ticket_id: int, mailbox: Sequence[EmailMessage]) -> EmailMessage | None:
        with self.app.store.transaction() as s:
            ids = set(
                s.scalars(
                    select(NotificationRow.message_id).where(
                        NotificationRow.ticket_id == ticket_id,
                        NotificationRow.event == "acknowledgement",
                        NotificationRow.state == "sent",
                        NotificationRow.message_id.is_not(None),
                    )
                )
            )
        return next((m for m in mailbox if str(m["Message-ID"]) in ids), None)

    def report(self, mailbox: Sequence[EmailMessage]) -> dict[str, Any]:
        """Per channel: the inbox rows it became (1: once), the request, its customer and
        how they were matched, the CRM's number, 1C's id, the due dates and the
        acknowledgement (language, subject); and the reply: threaded by which rule, the
        customer's ``message`` event, and the next-response clock it started."""
        zone = ZoneInfo(self.app.config.timezone)
        rows = [self._row(sent, mailbox, zone) for sent in self.sent]
        return {"requests": rows, "reply": self._reply_row(zone)}

    def _row(self, sent: _Sent, mailbox: Sequence[EmailMessage], zone: ZoneInfo) -> dict[str, Any]:
        with self.app.store.transaction() as s:
            inbox = s.scalars(select(InboxRow).where(InboxRow.subject == sent.subject)).all()
            tickets = s.scalars(
                select(TicketRow).where(TicketRow.subject == sent.subject, ~TicketRow.deleted)
            ).all()
            ticket = tickets[0] if tickets else None
            contact = s.get(ContactRow, sent.contact_id)
            customer = (
                s.get(CustomerRow, ticket.customer_id) if ticket and ticket.customer_id else None
            )
            remote = (
                s.execute(
                    select(BindingRow.remote_id, BindingRow.state).where(
                        BindingRow.model == "ticket", BindingRow.local_id == ticket.id
                    )
                ).first()
                if ticket
                else None
            )
            customer_remote = (
                s.scalar(
                    select(BindingRow.remote_id).where(
                        BindingRow.model == "customer", BindingRow.local_id == customer.id
                    )
                )
                if customer
                else None
            )
            acks = s.execute(
                select(
                    NotificationRow.language, NotificationRow.message_id, NotificationRow.recipient
                ).where(
                    NotificationRow.ticket_id == (ticket.id if ticket else 0),
                    NotificationRow.event == "acknowledgement",
                    NotificationRow.state == "sent",
                )
            ).all()
            match = ((inbox[0].decision or {}).get("match") or {}) if inbox else {}
        mails = {str(m["Message-ID"]): m for m in mailbox}
        ack = [
            {
                "language": lang,
                "to": to,
                "subject": str(mails[mid]["Subject"]) if mid in mails else None,
            }
            for lang, mid, to in acks
        ]
        return {
            "channel": sent.channel,
            "source": ticket.source if ticket else None,
            "stored": len(inbox),
            "requests": len(tickets),
            "reference": sent.reference,
            "retried_reference": sent.retried,
            "subject": sent.subject,
            "contact": contact.name if contact else None,
            "contact_customer_id": contact.customer_id if contact else None,
            "customer": customer.name if customer else None,
            "customer_id": ticket.customer_id if ticket else None,
            "customer_remote_id": customer_remote,
            "matched_by": match.get("rule"),
            "number": ticket.number if ticket else None,
            "remote_id": remote[0] if remote else None,
            "type": ticket.type if ticket else None,
            "priority": ticket.priority if ticket else None,
            "first_response_due": _local(ticket.first_response_due if ticket else None, zone),
            "resolution_due": _local(ticket.resolution_due if ticket else None, zone),
            "resolution_due_iso": ticket.resolution_due.astimezone(zone)
            .replace(tzinfo=None)
            .isoformat()
            if ticket and ticket.resolution_due
            else None,  # as 1C holds it (СрокИсполнения: naive, Moscow)
            "acknowledgements": ack,
        }

    def _reply_row(self, zone: ZoneInfo) -> dict[str, Any]:
        from sla.clock import evaluate
        from sla.engine import facts_for

        ticket_id = self.replied.get("ticket_id")
        if ticket_id is None:
            return dict(self.replied)
        now = self.app.clock()
        settings = self.app.config.section("sla")
        with self.app.store.transaction() as s:
            inbox = s.scalar(
                select(InboxRow).where(InboxRow.message_id == self.replied["message_id"])
            )
            events = s.scalars(
                select(TicketEventRow).where(
                    TicketEventRow.ticket_id == ticket_id, TicketEventRow.kind == "message"
                )
            ).all()
            tickets = (
                s.scalar(
                    select(func.count())
                    .select_from(TicketRow)
                    .where(TicketRow.subject.like("Re:%"))
                )
                or 0
            )
            ticket = s.get(TicketRow, ticket_id)
            assert ticket is not None  # noqa: S101 - threaded into it just now
            cycle = evaluate(
                facts_for(self.app.bus.unit(s, now, self.app.config), ticket),
                settings.policies,
                settings.calendar,
                now,
            ).current("next_response")
            return {
                **self.replied,
                "number": ticket.number,
                "state": inbox.state if inbox else None,
                "threaded_into": inbox.ticket_id if inbox else None,
                "rule": ((inbox.decision or {}).get("thread") or {}).get("rule") if inbox else None,
                "new_requests": tickets,
                "message_events": [
                    {"author": e.data.get("author"), "at": _local(e.at, zone)} for e in events
                ],
                "next_response": None
                if cycle is None
                else {
                    "started": _local(cycle.start, zone),
                    "state": cycle.state,
                    "due": _local(cycle.due, zone),
                    "policy": cycle.policy,
                    "target": str(cycle.target),
                },
            }


def _local(at: datetime | None, zone: ZoneInfo) -> str | None:
    return at.astimezone(zone).strftime("%d.%m %H:%M") if at is not None else None


def _spoken(phone: str) -> str:
    """`+79725971948` as a person types it in a form: ``8 (972) 597-19-48``."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) != 11:
        return phone
    return f"8 ({digits[1:4]}) {digits[4:7]}-{digits[7:9]}-{digits[9:11]}"
