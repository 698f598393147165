"""Helpers of the notify tests: an app sending into the SMTP sink, a request, its events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TicketRow
from notify.sink import SmtpSink

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 1, 11, 9, 30, tzinfo=MSK)  # a Monday
# what the local SMS.ru, Telegram and webhook servers of the `servers` fixture (conftest.py) answer as
TOKEN = "123456:AAF-secret-bot-token"
SECRET = "whsec-0123456789abcdef"
CHAT, PHONE = "-1001234567890", "79991234567"


def notify_section(sink: SmtpSink, extra: str = "", *, plan_wait: str = "0s") -> str:
    return f"""
notify:
  email:
    host: {sink.host}
    port: {sink.port}
    tls: none
    from: "Служба поддержки <support@example.ru>"
    reply_to: support@example.ru
  customer:
    segments: {{international: {{language: en, timezone: Europe/London}}}}
  staff:
    supervisor: "Старший смены <lead@example.ru>"
  unsubscribe_url: "https://support.example.ru/unsubscribe/{{token}}"
  link_secret: s3cret
  wait_for_plan: {plan_wait}   # these tests set the due dates themselves; the SLA tick does not run
{extra}"""


def make_app(tmp_path: Path, sink: SmtpSink, extra: str = "", *, clock: FrozenClock | None = None,
             plan_wait: str = "0s") -> App:
    text = f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n' + notify_section(sink, extra, plan_wait=plan_wait)
    app = App.from_text(text, clock=clock or FrozenClock(NOW))
    app.upgrade_db()
    return app


def add_request(app: App, *, segment: str | None = None, status: str = "new", number: str = "CRM-0000042") -> int:
    """A request of Иванова at ООО «Ромашка», assigned to Петров, planned: due dates set."""
    with app.store.transaction() as s:
        customer = CustomerRow(name="ООО «Ромашка»", email="office@romashka.example", segment=segment)
        s.add(customer)
        s.flush()
        contact = ContactRow(name="Иванова Мария Петровна", customer_id=customer.id, email="M.Ivanova@romashka.example")
        agent = AgentRow(name="Петров Пётр", email="petrov@example.ru")
        s.add_all([contact, agent])
        s.flush()
        ticket = TicketRow(number=number, subject="Не проходит оплата", type="technical_problem", priority="high",
                           channel="email", source="external", status=status, customer_id=customer.id,
                           contact_id=contact.id, assignee_id=agent.id, created_at=NOW.replace(hour=9, minute=0),
                           first_response_due=datetime(2027, 1, 11, 11, 0, tzinfo=MSK),
                           resolution_due=datetime(2027, 1, 12, 10, 56, tzinfo=MSK), tags=[])
        s.add(ticket)
        s.flush()
        return int(ticket.id)


def publish(app: App, *events: DomainEvent, status: str | None = None, ticket_id: int | None = None,
            now: datetime = NOW) -> None:
    """Publish `events` in one transaction (setting the request's status first, as an import would)."""
    with app.store.transaction() as s:
        if status is not None and ticket_id is not None:
            ticket = s.get(TicketRow, ticket_id)
            assert ticket is not None
            ticket.status = status
        unit = app.bus.unit(s, now, app.config)
        for event in events:
            unit.publish(event)
        unit.complete()


def created(ticket_id: int) -> DomainEvent:
    return DomainEvent("ticket.imported", "ticket", ticket_id, "remote:crm", {"created": True, "changed": ["number"]})


def status_changed(ticket_id: int, before: str) -> DomainEvent:
    return DomainEvent("ticket.imported", "ticket", ticket_id, "remote:crm",
                       {"created": False, "changed": ["status"], "before": {"status": before}})
