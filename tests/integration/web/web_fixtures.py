"""Helpers of the web tests: an app with a supervisor login, a links key and requests of
two customers (one at risk, one breached, one closed, one waiting for an agent)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from crm_bridge.app import App, FrozenClock
from crm_bridge.links import sign
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TeamRow, TicketRow
from routing.tables import RoutingQueueRow
from sla.tables import SlaClockRow, SlaEventRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2027, 1, 11, 9, 30, tzinfo=MSK)  # a Monday
LINK_KEY = "L" * 20 + "k" * 20
SESSION_KEY = "S" * 20 + "s" * 20
PASSWORD = "correct horse battery staple"


@cache
def password_hash() -> str:
    from web.security import hash_password

    return hash_password(PASSWORD)


def web_config(tmp_path: Path, extra: str = "", *, web_extra: str = "", store: str | None = None) -> str:
    return f"""
store: {{url: "{store or f'sqlite:///{tmp_path / "s.db"}'}"}}
links: {{secret: "{LINK_KEY}", base_url: "http://127.0.0.1:8080"}}
web:
  session_secret: "{SESSION_KEY}"
  session_hours: 8
  users:
    lead: {{password_hash: "{password_hash()}", name: "Старший смены"}}
{web_extra}routing:
  agent_defaults: {{capacity: 8}}
{extra}"""


def make_app(tmp_path: Path, extra: str = "", *, clock: FrozenClock | None = None, web_extra: str = "",
             store: str | None = None) -> App:
    app = App.from_text(web_config(tmp_path, extra, web_extra=web_extra, store=store), clock=clock or FrozenClock(NOW))
    app.upgrade_db()
    seed(app)
    return app


def seed(app: App) -> dict[str, int]:
    """Contact ids: ``ivanova`` (three requests, one closed), ``kuznetsov`` (one, unassigned)."""
    with app.store.transaction() as s:
        l1, l2 = TeamRow(name="L1"), TeamRow(name="L2")
        romashka, lyutik = CustomerRow(name="ООО «Ромашка»"), CustomerRow(name="ООО «Лютик»", segment="international")
        s.add_all([l1, l2, romashka, lyutik])
        s.flush()
        petrov = AgentRow(name="Петров Пётр", email="petrov@example.ru", team_id=l1.id)
        sidorova = AgentRow(name="Сидорова Анна Ивановна", email="sidorova@example.ru", team_id=l2.id)
        ivanova = ContactRow(name="Иванова Мария Петровна", customer_id=romashka.id, email="m.ivanova@romashka.example")
        kuznetsov = ContactRow(name="Кузнецов Олег", customer_id=lyutik.id, email="o.kuznetsov@lyutik.example")
        s.add_all([petrov, sidorova, ivanova, kuznetsov])
        s.flush()

        def ticket(number: str, contact: ContactRow, status: str, team: TeamRow, agent: AgentRow | None,
                   state: str, due: datetime, **more: object) -> TicketRow:
            row = TicketRow(number=number, subject=f"Обращение {number[-2:]}", type="technical_problem",
                            priority="high", channel="email", source="external", status=status,
                            customer_id=contact.customer_id, contact_id=contact.id, team_id=team.id,
                            assignee_id=agent.id if agent else None, created_at=NOW - timedelta(days=1),
                            resolution_due=due, sla_state=state, tags=[], **more)
            s.add(row)
            return row

        ticket("CRM-0000042", ivanova, "in_progress", l1, petrov, "warning", NOW + timedelta(hours=2))
        ticket("CRM-0000043", ivanova, "new", l2, sidorova, "breached", NOW - timedelta(hours=1), sla_breached=True)
        ticket("CRM-0000044", ivanova, "closed", l1, petrov, "met", NOW - timedelta(days=2))
        waiting = ticket("CRM-0000050", kuznetsov, "new", l1, None, "on_track", NOW + timedelta(days=1))
        s.flush()
        s.add(RoutingQueueRow(ticket_id=waiting.id, queued=NOW - timedelta(minutes=20), reason="everybody away"))
        return {"ivanova": ivanova.id, "kuznetsov": kuznetsov.id, "waiting": waiting.id}


def cabinet_token(contact_id: int, *, purpose: str = "cabinet", days: int = 30, key: str = LINK_KEY) -> str:
    return sign(key, purpose, f"contact:{contact_id}", expires=NOW + timedelta(days=days))


H = 3600.0


def add_ledger(app: App, number: str, rows: list[tuple[int, str, int, str, datetime, float]], *,
               generation: int = 1) -> None:
    """Ledger rows ``(generation, metric, cycle, kind, at, business seconds)`` of request
    `number`, and its clock naming `generation` as the newest (calendar seconds: the business)."""
    with app.store.transaction() as s:
        ticket = s.query(TicketRow).filter_by(number=number).one()
        s.merge(SlaClockRow(ticket_id=ticket.id, generation=generation))
        s.add_all([SlaEventRow(ticket_id=ticket.id, generation=g, metric=metric, cycle=cycle, kind=kind, at=at,
                               business_seconds=b, calendar_seconds=b, data={})
                   for g, metric, cycle, kind, at, b in rows])


def seed_december(app: App) -> None:
    """Three more requests, all in December 2026 (outside the dashboard's default 14 days):
    L2's two by phone on the 10th (one resolved on the 12th, one still open) and L1's one by
    chat on the 20th, closed on 5 January. So at December's end two are open (both over 7
    days old), one per team and agent. In the SLA ledger 60's resolution was due on the 11th
    at 10:00 and met on the 12th at 10:00 (8 business hours late), and 62's first response
    was due on the 20th at 13:00 and met at 13:30; neither is breached *now*."""
    with app.store.transaction() as s:
        teams = {t.name: t for t in s.query(TeamRow)}
        agents = {a.name: a for a in s.query(AgentRow)}
        customer = s.query(CustomerRow).first()
        assert customer is not None

        def ticket(number: str, team: str, agent: str, channel: str, status: str, opened: datetime,
                   **more: object) -> None:
            s.add(TicketRow(number=number, subject=f"Декабрь {number[-2:]}", type="consultation", priority="normal",
                            channel=channel, source="external", status=status, customer_id=customer.id,
                            team_id=teams[team].id, assignee_id=agents[agent].id, created_at=opened, sla_state="met",
                            tags=[], **more))

        ticket("CRM-0000060", "L2", "Сидорова Анна Ивановна", "phone", "resolved", datetime(2026, 12, 10, 10, tzinfo=MSK),
               resolved_at=datetime(2026, 12, 12, 10, tzinfo=MSK))
        ticket("CRM-0000061", "L2", "Сидорова Анна Ивановна", "phone", "in_progress",
               datetime(2026, 12, 10, 11, tzinfo=MSK))
        ticket("CRM-0000062", "L1", "Петров Пётр", "chat", "closed", datetime(2026, 12, 20, 12, tzinfo=MSK),
               closed_at=datetime(2027, 1, 5, 12, tzinfo=MSK))
    add_ledger(app, "CRM-0000060", [(1, "resolution", 1, "breach", datetime(2026, 12, 11, 10, tzinfo=MSK), 8 * H),
                                    (1, "resolution", 1, "fulfil", datetime(2026, 12, 12, 10, tzinfo=MSK), 16 * H)])
    add_ledger(app, "CRM-0000062", [(1, "first_response", 1, "breach", datetime(2026, 12, 20, 13, tzinfo=MSK), H),
                                    (1, "first_response", 1, "fulfil", datetime(2026, 12, 20, 13, 30, tzinfo=MSK),
                                     1.5 * H)])
