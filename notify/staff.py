"""Staff recipients that depend on who the agent is: their team lead and their shift.

Routing owns teams and schedules. Notify does not depend on routing (its manifest lists
``crm_bridge`` and ``sla``), so it reads the ``routing:`` section's data through the app
configuration when that section exists — ``teams.<name>.lead`` and ``members``, the
agents' ``schedule`` (``schedule_of``) — and never imports routing's modules. Without
routing, a team lead comes from ``notify.staff.team_leads`` and every agent is on shift.

Example::

    directory = StaffDirectory(session, app_config, now)
    directory.team_lead(petrov)       # (("ivanova@example.ru", "Иванова Мария Петровна", "email"), <AgentRow>)
    directory.shift_starts(petrov)    # None (on shift now) or 09:00 of the next working day
"""

from __future__ import annotations

from datetime import datetime
from email.utils import getaddresses
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.store.tables import AgentRow
from sla.due import is_working, next_working_instant

__all__ = ["StaffDirectory"]

Address = tuple[str, str | None, str]  # (address, name, channel)


class StaffDirectory:
    """Team leads and shifts of agents at one instant (`now`, aware), for one transaction."""

    def __init__(self, session: Session, app_config: Any, now: datetime) -> None:
        self._session, self._app, self._now = session, app_config, now
        self._routing = getattr(app_config, "routing", None)  # None: routing not installed
        self._staff = app_config.section("notify").staff
        self._agents: dict[str, AgentRow] | None = None

    def team_lead(self, agent: AgentRow | None) -> tuple[Address, AgentRow | None] | None:
        """The lead of the agent's team (routing's first team listing them that names a
        lead, the lead's own address from the CRM's users), else ``staff.team_leads`` (by the
        agent's name or address, else ``"*"``), with the lead's CRM user when known (their
        shift counts too); None when neither knows one, or the lead is the agent themself."""
        if agent is None:
            return None
        key = self._key(agent)
        if self._routing is not None and key is not None:
            for team, spec in self._routing.teams.items():
                if spec.lead is not None and key in self._routing.members(team):
                    lead = self._agent(spec.lead)
                    if lead is not None and lead.email and lead.id != agent.id:
                        return (lead.email, lead.name, "email"), lead
                    return None
        leads = self._staff.team_leads
        written = leads.get(agent.name) or leads.get((agent.email or "").lower()) or leads.get("*")
        if written is None:
            return None
        name, addr = getaddresses([written])[0]
        if addr.lower() == (agent.email or "").lower():
            return None
        lead = self._agent(addr.lower())
        return (addr, name or (lead.name if lead is not None else None), "email"), lead

    def shift_starts(self, agent: AgentRow | None) -> tuple[datetime, str] | None:
        """When an agent off shift now starts work, and their schedule's name; None when
        they are on shift, have no schedule, or routing is not installed."""
        if agent is None or self._routing is None:
            return None
        schedule = self._routing.schedule_of(self._key(agent))
        if schedule is None:
            return None
        calendar = self._app.section("sla").calendar(schedule)
        if is_working(calendar, self._now):
            return None
        local = self._now.astimezone(ZoneInfo(self._app.timezone))
        return next_working_instant(calendar, local), schedule

    def _key(self, agent: AgentRow) -> str | None:
        """The agent's key in ``routing.agents`` (their name or address, as routing matches
        CRM users), else their name when ``agent_defaults`` routes every user."""
        if self._routing is None:
            return None
        email = (agent.email or "").lower()
        for key in self._routing.agents:
            if key == agent.name or (email and key.lower() == email):
                return str(key)
        if self._routing.agent_defaults is not None and agent.name not in self._routing.exclude:
            return agent.name
        return None

    def _agent(self, key: str) -> AgentRow | None:
        agents = self._all()
        return agents.get(key) or agents.get(key.lower())

    def _all(self) -> dict[str, AgentRow]:
        if self._agents is None:
            self._agents = {}
            for row in self._session.scalars(select(AgentRow).order_by(AgentRow.id)):
                self._agents.setdefault(row.name, row)
                if row.email:
                    self._agents.setdefault(row.email.lower(), row)
        return self._agents
