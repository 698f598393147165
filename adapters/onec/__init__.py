"""1C:CRM over the standard OData interface (SOAP to come), with a faithful 1C emulator.

Registers the backend kind ``onec_odata`` (configuration model and adapter factory).
"""

from __future__ import annotations

from adapters.onec.adapter import OneCBackend
from adapters.onec.config import OneCODataConfig
from crm_bridge.registry import Registry

__all__ = ["OneCBackend", "OneCODataConfig", "register"]


def _factory(name: str, config: OneCODataConfig) -> OneCBackend:
    return OneCBackend(name, config)


def register(registry: Registry) -> None:
    registry.add(OneCODataConfig, usage="config.backend", name="onec_odata")
    registry.add(_factory, usage="backend.factory", name="onec_odata")
    from adapters.onec.cli import (  # CLI only: typer stays out of the adapter's import
        demo,
        emulator,
        onec_app,
    )

    registry.add(onec_app, usage="cli.group", name="onec")

    registry.add(demo, usage="cli.command", name="demo")
    registry.add(emulator, usage="cli.command", name="emulator")
