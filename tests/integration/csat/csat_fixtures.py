"""Helpers of the csat tests: an app mailing into the SMTP sink, serving the rating page,
and resolved requests of one contact (plus an internal one and one of another contact)."""

from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TeamRow, TicketRow
from notify.sink import SmtpSink

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 1, 11, 12, 0, tzinfo=MSK)  # a Monday, outside quiet hours
LINK_KEY = "L" * 20 + "k" * 20
SESSION_KEY = "S" * 20 + "s" * 20


def csat_config(tmp_path: Path, sink: SmtpSink, extra: str = "", *, base_url: str = "http://127.0.0.1:8080") -> str:
    return f"""
store: {{url: "sqlite:///{tmp_path / "s.db"}"}}
links: {{secret: "{LINK_KEY}", base_url: "{base_url}"}}
web: {{session_secret: "{SESSION_KEY}"}}
notify:
  email: {{host: {sink.host}, port: {sink.port}, tls: none, from: "Поддержка <support@example.ru>"}}
  staff: {{supervisor: "Старший смены <lead@example.ru>"}}
  wait_for_plan: 0s
csat:
  enabled: true
  delay: 2h
  window: 7d
  max_per_contact: 1 per 30d
{extra}"""


def make_app(tmp_path: Path, sink: SmtpSink, extra: str = "", *, clock: FrozenClock | None = None,
             base_url: str = "http://127.0.0.1:8080") -> App:
    app = App.from_text(csat_config(tmp_path, sink, extra, base_url=base_url), clock=clock or FrozenClock(NOW))
    app.upgrade_db()
    return app


def seed(app: App) -> dict[str, int]:
    """Request ids: ``rated`` (CRM-0000042, resolved 3 h ago), ``second`` (same contact,
    resolved 2.5 h ago: capped), ``internal`` (resolved 3 h ago, source internal),
    ``early`` (another contact, resolved 1 h ago: not due yet), ``open`` (in progress)."""
    with app.store.transaction() as s:
        team = TeamRow(name="L1")
        customer = CustomerRow(name="ООО «Ромашка»", email="office@romashka.example")
        other = CustomerRow(name="ООО «Лютик»", email="office@lyutik.example")
        s.add_all([team, customer, other])
        s.flush()
        ivanova = ContactRow(name="Иванова Мария Петровна", customer_id=customer.id, email="m.ivanova@romashka.example")
        kuznetsov = ContactRow(name="Кузнецов Олег", customer_id=other.id, email="o.kuznetsov@lyutik.example")
        agent = AgentRow(name="Петров Пётр", email="petrov@example.ru", team_id=team.id)
        s.add_all([ivanova, kuznetsov, agent])
        s.flush()

        def ticket(number: str, contact: ContactRow, *, status: str = "resolved", hours_ago: float = 3,
                   source: str = "external") -> int:
            row = TicketRow(number=number, subject=f"Обращение {number[-2:]}", type="technical_problem",
                            priority="normal", channel="email", source=source, status=status,
                            customer_id=contact.customer_id, contact_id=contact.id, team_id=team.id,
                            assignee_id=agent.id, created_at=NOW - timedelta(days=1), tags=[],
                            resolved_at=NOW - timedelta(hours=hours_ago) if status == "resolved" else None)
            s.add(row)
            s.flush()
            return int(row.id)

        return {"rated": ticket("CRM-0000042", ivanova), "second": ticket("CRM-0000043", ivanova, hours_ago=2.5),
                "internal": ticket("CRM-0000044", ivanova, source="internal"),
                "early": ticket("CRM-0000045", kuznetsov, hours_ago=1),
                "open": ticket("CRM-0000046", kuznetsov, status="in_progress")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rating_links(mail: EmailMessage) -> dict[int, str]:
    """The one-click link of each score in a survey mail (its plain-text part), by score."""
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    return {int(score): path for path, score in re.findall(r"https?://[^/\s]+(/rate/[\w.-]+)\?score=(\d)", text)}
