"""1C:CRM over the standard OData interface or a company's own SOAP web service, with a
faithful 1C emulator.

Registers the backend kinds ``onec_odata`` (``OneCBackend``) and ``onec_soap`` (a
"changes since" web service, ``SoapChangeSource``): configuration models and factories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.onec.adapter import OneCBackend
from adapters.onec.config import OneCODataConfig, OneCSoapConfig
from crm_bridge.registry import Registry

if TYPE_CHECKING:
    from adapters.onec.soap_source import SoapChangeSource

__all__ = ["OneCBackend", "OneCODataConfig", "OneCSoapConfig", "register"]


def _factory(name: str, config: OneCODataConfig) -> OneCBackend:
    return OneCBackend(name, config)


def _soap_factory(name: str, config: OneCSoapConfig) -> SoapChangeSource:
    # zeep is loaded only when a SOAP backend is used
    from adapters.onec.soap_source import SoapChangeSource

    return SoapChangeSource.from_config(name, config)


def register(registry: Registry) -> None:
    registry.add(OneCODataConfig, usage="config.backend", name="onec_odata")
    registry.add(_factory, usage="backend.factory", name="onec_odata")
    registry.add(OneCSoapConfig, usage="config.backend", name="onec_soap")
    registry.add(_soap_factory, usage="backend.factory", name="onec_soap")
    from adapters.onec.cli import (  # CLI only: typer stays out of the adapter's import
        demo,
        emulator,
        onec_app,
    )

    registry.add(onec_app, usage="cli.group", name="onec")

    registry.add(demo, usage="cli.command", name="demo")
    registry.add(emulator, usage="cli.command", name="emulator")
