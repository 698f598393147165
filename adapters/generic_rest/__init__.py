"""Any REST CRM from a declarative connector file (in progress: nothing registered yet)."""

from __future__ import annotations

from crm_bridge.registry import Registry

__all__ = ["register"]


def register(registry: Registry) -> None:
    """The generic REST adapter registers its backend kind here once it ships."""
