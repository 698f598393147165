"""Staff alerts by team and shift: the team lead comes from routing's teams (else from
``staff.team_leads``); an agent off shift hears of an SLA alert when the shift starts —
across a night nobody is paged at 3 a.m. — unless the escalation level says ``page_always``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from notify_fixtures import MSK, NOW, add_request, notify_section, publish
from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import AgentRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow

ROUTING = """
routing:
  agents:
    Петров Пётр: {schedule: office}
    Иванова Мария: {schedule: 24x7}
  teams:
    L1: {members: [Петров Пётр, Иванова Мария], lead: Иванова Мария}
"""
STAFF = """
  staff:
    supervisor: "Старший смены <lead@example.ru>"
    warn: [assignee, team_lead]
    breach: [assignee, team_lead, supervisor]
    escalate: [assignee, team_lead]
"""
NIGHT = datetime(2027, 1, 11, 23, 0, tzinfo=MSK)  # Monday night; the office opens Tuesday 09:00
THREE_AM = datetime(2027, 1, 12, 3, 0, tzinfo=MSK)
MORNING = datetime(2027, 1, 12, 9, 0, tzinfo=MSK)


def make_app(tmp_path: Path, sink: SmtpSink, staff: str, routing: str = "") -> App:
    section = notify_section(sink).replace('  staff:\n    supervisor: "Старший смены <lead@example.ru>"\n', staff)
    app = App.from_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n' + section + routing, clock=FrozenClock(NOW))
    app.upgrade_db()
    return app


def sla(kind: str, ticket_id: int, *, level: int | None = None, page_always: bool = False) -> DomainEvent:
    data = {"metric": "resolution", "cycle": 1, "at": NOW, "level": level, "action": "notify_supervisor" if level else None,
            **({"page_always": True} if page_always else {})}
    return DomainEvent(f"sla.{kind}", "ticket", ticket_id, "sla", data)


def with_lead(app: App) -> None:
    with app.store.transaction() as s:
        s.add(AgentRow(name="Иванова Мария", email="ivanova@example.ru"))


def rows(app: App, event: str) -> dict[str, NotificationRow]:
    with app.store.transaction() as s:
        found = {r.recipient: r for r in s.scalars(select(NotificationRow).where(NotificationRow.event == event))}
        s.expunge_all()
        return found


def recipients(sink: SmtpSink) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in sink.messages)


def test_a_breach_reaches_the_assignee_the_lead_of_their_routing_team_and_the_supervisor(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, STAFF, ROUTING)
    tid = add_request(app)
    with_lead(app)
    publish(app, sla("breach", tid))
    assert app.run_job("notify.dispatch")["sent"] == 3
    assert recipients(sink) == ["ivanova@example.ru", "lead@example.ru", "petrov@example.ru"]
    lead_mail = next(m for m in sink.messages if m["To"].addresses[0].addr_spec == "ivanova@example.ru")
    assert lead_mail["To"].addresses[0].display_name == "Иванова Мария"


def test_without_a_routing_team_the_lead_comes_from_staff_team_leads(tmp_path: Path, sink: SmtpSink) -> None:
    staff = STAFF + '    team_leads: {"petrov@example.ru": "Сидорова Анна <sidorova@example.ru>", "*": nobody@example.ru}\n'
    app = make_app(tmp_path, sink, staff)
    tid = add_request(app)
    publish(app, sla("breach", tid))
    app.run_job("notify.dispatch")
    assert recipients(sink) == ["lead@example.ru", "petrov@example.ru", "sidorova@example.ru"]


def test_a_warning_at_night_waits_for_the_assignees_shift_while_the_round_the_clock_lead_hears_at_once(
        tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, STAFF, ROUTING)
    tid = add_request(app)
    with_lead(app)
    publish(app, sla("warn", tid), now=NIGHT)
    waiting = rows(app, "sla_warn")["petrov@example.ru"]
    assert waiting.next_attempt_at.astimezone(MSK) == MORNING
    assert waiting.reason == "off shift (office): waits until 12.01 09:00 MSK"
    assert app.run_job("notify.dispatch", NIGHT)["sent"] == 1  # the lead, on a 24x7 schedule
    assert app.run_job("notify.dispatch", THREE_AM).get("sent", 0) == 0  # no 3 a.m. page
    assert recipients(sink) == ["ivanova@example.ru"]
    assert app.run_job("notify.dispatch", MORNING + timedelta(seconds=1))["sent"] == 1
    assert recipients(sink) == ["ivanova@example.ru", "petrov@example.ru"]


def test_an_escalation_level_with_page_always_reaches_the_agent_off_shift_at_once(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, STAFF, ROUTING)
    tid = add_request(app)
    with_lead(app)
    publish(app, sla("escalate", tid, level=1), sla("escalate", tid, level=2, page_always=True), now=THREE_AM)
    app.run_job("notify.dispatch", THREE_AM)
    with app.store.transaction() as s:
        petrov = {r.data["level"]: (r.state, r.next_attempt_at.astimezone(MSK)) for r in s.scalars(
            select(NotificationRow).where(NotificationRow.recipient == "petrov@example.ru"))}
    assert petrov == {1: ("pending", MORNING), 2: ("sent", petrov[2][1])}
    assert recipients(sink).count("petrov@example.ru") == 1
