"""Routing addon: assign each request to the right agent by rules, skills, load,
capacity, shifts, leave and availability; act on the SLA addon's escalations.

The decision is pure (``routing.decide``); the store, the queue and the outbox are at the
edge (``routing.engine``, ``routing.escalation``). Example::

    decision = decide(request, config.rules, roster.pools(), pointers, now)
    decision.agent, decision.reason      # "ivanova", "least loaded: 2 open of 8 (next: Петров, 3)"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, lazy_exports

if TYPE_CHECKING:
    from crm_bridge.registry import Registry
    from routing.availability import status_section
    from routing.decide import AgentState, Considered, Decision, RequestFacts, decide, match_rule
    from routing.settings import RoutingConfig

__all__ = ["AgentState", "Considered", "Decision", "RequestFacts", "RoutingConfig", "decide", "match_rule", "register",
           "status_section"]
__getattr__ = lazy_exports(__name__, {**dict.fromkeys(["AgentState", "Considered", "Decision", "RequestFacts", "decide",
                                                        "match_rule"], "routing.decide"),
                                      "RoutingConfig": "routing.settings", "status_section": "routing.availability"})


def register(registry: Registry) -> None:
    """Register the config section ``routing``, the ``ticket.imported``, ``sla.escalate``,
    ``sla.warn`` and ``csat.low`` handlers, the job ``routing.tick`` and the ``routing`` commands, each by name
    (``Lazy``): imported when used, so loading the addon imports nothing of it."""
    registry.add(Lazy("routing.settings:RoutingConfig"), usage="config.section", name="routing")
    registry.add(Lazy("routing.engine:on_ticket_imported"), usage="event.handler", model="ticket.imported", name="routing.queue")
    registry.add(Lazy("routing.escalation:on_sla_escalate"), usage="event.handler", model="sla.escalate", name="routing.escalate")
    registry.add(Lazy("routing.reroute:on_sla_warn"), usage="event.handler", model="sla.warn", name="routing.reroute")
    registry.add(Lazy("routing.followup:on_csat_low"), usage="event.handler", model="csat.low", name="routing.csat_low")
    registry.add(Lazy("routing.engine:routing_tick"), usage="job", name="routing.tick")
    registry.add(Lazy("routing.status:routing_status"), usage="status.section", name="routing")
    registry.add(Lazy("routing.cli:routing_app", summary="Who gets which request and why; agents' load and availability."),
                 usage="cli.group", name="routing")
