"""Routing addon: assign each request to the right agent by rules, skills, load,
capacity, shifts, leave and availability; act on the SLA addon's escalations.

The decision is pure (``routing.decide``); the store, the queue and the outbox are at the
edge (``routing.engine``, ``routing.escalation``). Example::

    decision = decide(request, config.rules, roster.pools(), pointers, now)
    decision.agent, decision.reason      # "ivanova", "least loaded: 2 open of 8 (next: Петров, 3)"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routing.decide import AgentState, Considered, Decision, RequestFacts, decide, match_rule
from routing.settings import RoutingConfig

if TYPE_CHECKING:
    from crm_bridge.registry import Registry

__all__ = ["AgentState", "Considered", "Decision", "RequestFacts", "RoutingConfig", "decide", "match_rule", "register",
           "status_section"]


def status_section(bridge: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Routing's rows and problems for ``crm-bridge status``: per team, who can take a
    request now and what waits; a team that queues because nobody can, why and since
    when (see ``routing.status``; imported here lazily, it reads the store)."""
    from routing.status import status_section as section

    return section(bridge)


def register(registry: Registry) -> None:
    """Register the config section ``routing``, the ``ticket.imported`` and ``sla.escalate``
    handlers, the job ``routing.tick`` and the ``routing`` commands. The store side is
    imported here, so ``import routing`` for the pure decision pulls in no SQLAlchemy."""
    from routing.cli import routing_app
    from routing.engine import on_ticket_imported, routing_tick
    from routing.escalation import on_sla_escalate
    from routing.reroute import on_sla_warn

    registry.add(RoutingConfig, usage="config.section", name="routing")
    registry.add(on_ticket_imported, usage="event.handler", model="ticket.imported", name="routing.queue")
    registry.add(on_sla_escalate, usage="event.handler", model="sla.escalate", name="routing.escalate")
    registry.add(on_sla_warn, usage="event.handler", model="sla.warn", name="routing.reroute")
    registry.add(routing_tick, usage="job", name="routing.tick")
    registry.add(routing_app, usage="cli.group", name="routing")
