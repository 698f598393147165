"""crm-bridge core: addon loader and registry, configuration, canonical domain model,
store, domain events, jobs and the CLI."""

from __future__ import annotations

from crm_bridge.registry import Lazy, Registry

__version__ = "0.1.0"
__all__ = ["__version__", "register"]


def register(registry: Registry) -> None:
    registry.add(Lazy("crm_bridge.links:LinksConfig"), usage="config.section", name="links")
    registry.add(Lazy("crm_bridge.history:record_ticket_history"), usage="event.handler", model="ticket.imported")
