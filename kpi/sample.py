"""A small store whose November 2026 KPIs are worked out by hand (``kpi/README.md``, "A
worked example"): the tests check every figure against it, and anyone can load it to see
what the report prints.

Eight requests of two teams, two agents and two customers, with the SLA ledger the
engine would have written (business and calendar seconds given, not computed): a request
reopened twice, a breached first response, a stale ledger generation, requests opened
just after midnight Moscow time on either edge of November, one resolved after the month
ended, one cancelled, one repeat contact and one near-repeat 11 days apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.orm import Session

from crm_bridge.store.tables import AgentRow, CustomerRow, TeamRow, TicketRow, core_table
from sla.tables import SlaClockRow, SlaEventRow

__all__ = ["NOW", "ZONE", "seed_sample"]

ZONE = ZoneInfo("Europe/Moscow")
#: the instant the sample is read at: after November, so its backlog is read at 1 December 00:00 Moscow
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=ZONE)
H = 3600


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


# id, number, team, agent, customer, type, channel, source, subject, status, opened, resolved
_TICKETS: list[tuple[Any, ...]] = [
    (1, "CRM-0000001", 1, 1, 1, "technical_problem", "email", "external", "Не печатается счёт", "resolved",
     _at(11, 2, 10), _at(11, 3, 12)),
    (2, "CRM-0000002", 1, 1, 1, "technical_problem", "phone", "external", "RE: Не печатается счёт", "resolved",
     _at(11, 5, 9), _at(11, 6, 18)),
    (3, "CRM-0000003", 2, 2, 2, "consultation", "chat", "external", "Как выгрузить отчёт", "in_progress",
     _at(11, 10, 10), None),
    (4, "CRM-0000004", 2, 2, 2, "consultation", "chat", "external", "Как выгрузить отчёт", "resolved",
     _at(10, 30, 10), _at(11, 2, 10)),
    (5, "CRM-0000005", 2, None, 2, "other", "web", "internal", "Доступ к порталу", "new", _at(11, 1, 1), None),
    (6, "CRM-0000006", 1, 1, 1, "technical_problem", "email", "external", "Не печатается счёт", "new",
     _at(12, 1, 0, 30), None),
    (7, "CRM-0000007", 1, None, 1, "other", "email", "external", "Отмена", "cancelled", _at(11, 20, 12), None),
    (8, "CRM-0000008", 1, 1, 1, "feedback", "phone", "external", "Спасибо за помощь", "resolved",
     _at(11, 25, 10), _at(12, 2, 10)),
]

# ticket, generation, metric, cycle, kind, at, business seconds, calendar seconds
_LEDGER: list[tuple[Any, ...]] = [
    (1, 1, "first_response", 1, "fulfil", _at(11, 2, 10, 30), 99999.0, 99999.0),  # replaced by generation 2
    (1, 2, "first_response", 1, "fulfil", _at(11, 2, 10, 30), 1800.0, 1800.0),
    (1, 2, "resolution", 1, "fulfil", _at(11, 3, 12), 4 * H, 26 * H),
    (2, 1, "first_response", 1, "breach", _at(11, 5, 10), 1 * H, 1 * H),
    (2, 1, "first_response", 1, "fulfil", _at(11, 5, 11), 2 * H, 2 * H),
    (2, 1, "resolution", 1, "fulfil", _at(11, 5, 15), 5 * H, 6 * H),
    (2, 1, "resolution", 2, "reopen", _at(11, 6, 10), 0.0, 0.0),
    (2, 1, "resolution", 2, "fulfil", _at(11, 6, 12), 2 * H, 2 * H),
    (2, 1, "resolution", 3, "reopen", _at(11, 6, 14), 0.0, 0.0),
    (2, 1, "resolution", 3, "breach", _at(11, 6, 17), 2 * H, 3 * H),
    (2, 1, "resolution", 3, "fulfil", _at(11, 6, 18), 3 * H, 4 * H),
    (3, 1, "first_response", 1, "fulfil", _at(11, 10, 10, 15), 900.0, 900.0),
    (4, 1, "first_response", 1, "fulfil", _at(10, 30, 10, 5), 300.0, 300.0),  # October's
    (4, 1, "resolution", 1, "fulfil", _at(11, 2, 10), 8 * H, 72 * H),
    (8, 1, "first_response", 1, "fulfil", _at(11, 25, 11), 1 * H, 1 * H),
    (8, 1, "resolution", 1, "fulfil", _at(12, 2, 10), 20 * H, 168 * H),  # December's
]


def seed_sample(session: Session) -> None:
    """Insert the sample into an upgraded, empty store (fixed ids 1-8)."""
    session.execute(insert(core_table(TeamRow)), [{"id": 1, "name": "L1"}, {"id": 2, "name": "L2"}])
    session.execute(insert(core_table(AgentRow)), [{"id": 1, "name": "Иванова Анна", "team_id": 1, "active": True},
                                                   {"id": 2, "name": "Petrov Ivan", "team_id": 2, "active": True}])
    session.execute(insert(core_table(CustomerRow)), [{"id": 1, "name": "ООО Ромашка", "deleted": False},
                                                      {"id": 2, "name": "АО Василёк", "deleted": False}])
    session.execute(insert(core_table(TicketRow)), [
        {"id": tid, "number": number, "team_id": team, "assignee_id": agent, "customer_id": customer, "type": kind,
         "channel": channel, "source": source, "subject": subject, "status": status, "priority": "normal",
         "created_at": opened, "resolved_at": resolved, "description": "", "co_executors": [], "tags": [],
         "contract": "ДС-2026/17" if customer == 1 else None, "sla_policy": "technical problem" if kind == "technical_problem"
         else "everything else", "sla_breached": tid == 2, "deleted": False}
        for tid, number, team, agent, customer, kind, channel, source, subject, status, opened, resolved in _TICKETS])
    generations: dict[int, int] = {}
    for ticket, generation, *_ in _LEDGER:
        generations[ticket] = max(generations.get(ticket, 1), generation)
    session.execute(insert(core_table(SlaClockRow)), [{"ticket_id": t, "generation": g} for t, g in generations.items()])
    session.execute(insert(core_table(SlaEventRow)), [
        {"ticket_id": t, "generation": g, "metric": m, "cycle": c, "kind": k, "at": at, "business_seconds": b,
         "calendar_seconds": cal, "data": {}} for t, g, m, c, k, at, b, cal in _LEDGER])


def expected_backlog_ages() -> list[float]:
    """Seconds from opening to 1 December 00:00 Moscow of the requests open then (3, 5, 8)."""
    cut = _at(12, 1, 0)
    return sorted((cut - opened) / timedelta(seconds=1) for opened in (_at(11, 10, 10), _at(11, 1, 1), _at(11, 25, 10)))
