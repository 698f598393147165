"""1C:CRM over the standard OData interface or a company's own SOAP web service, with a
faithful 1C emulator.

Registers the backend kinds ``onec_odata`` (``OneCBackend``) and ``onec_soap`` (a
"changes since" web service, ``SoapChangeSource``): configuration models and factories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, Registry, lazy_exports

if TYPE_CHECKING:
    from adapters.onec.adapter import OneCBackend
    from adapters.onec.config import OneCODataConfig, OneCSoapConfig
    from adapters.onec.soap_source import SoapChangeSource

__all__ = ["OneCBackend", "OneCODataConfig", "OneCSoapConfig", "register"]
__getattr__ = lazy_exports(__name__, {"OneCBackend": "adapters.onec.adapter", "OneCODataConfig": "adapters.onec.config",
                                      "OneCSoapConfig": "adapters.onec.config"})


def _factory(name: str, config: OneCODataConfig) -> OneCBackend:
    from adapters.onec.adapter import OneCBackend

    return OneCBackend(name, config)


def _soap_factory(name: str, config: OneCSoapConfig) -> SoapChangeSource:
    # zeep is loaded only when a SOAP backend is used
    from adapters.onec.soap_source import SoapChangeSource

    return SoapChangeSource.from_config(name, config)


def register(registry: Registry) -> None:
    """The backend kinds, by name (``Lazy``): requests and the OData client load when a
    configuration names them; the commands load when run."""
    registry.add(Lazy("adapters.onec.config:OneCODataConfig"), usage="config.backend", name="onec_odata")
    registry.add(_factory, usage="backend.factory", name="onec_odata")
    registry.add(Lazy("adapters.onec.config:OneCSoapConfig"), usage="config.backend", name="onec_soap")
    registry.add(_soap_factory, usage="backend.factory", name="onec_soap")
    registry.add(Lazy("adapters.onec.cli:onec_app", summary="1C:CRM backends: what a publication offers."),
                 usage="cli.group", name="onec")
    registry.add(Lazy("adapters.onec.cli:demo", summary="Run the whole loop against a built-in 1C:CRM emulator, nothing to configure."),
                 usage="cli.command", name="demo")
    registry.add(Lazy("adapters.onec.cli:emulator", summary="Serve the 1C:CRM emulator (standard OData interface) until Ctrl-C."),
                 usage="cli.command", name="emulator")
