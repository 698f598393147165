"""Any REST CRM from a declarative connector file: the ``rest`` backend kind.

The connector file (``connector.py``) says how to log in, page, find changes, write and
read errors; ``client.py`` makes the calls (bounded answers, the rate limit, retries,
re-login); ``backend.py`` is what the sync engine reads and writes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, Registry

if TYPE_CHECKING:
    from adapters.generic_rest.backend import RestBackend
    from adapters.generic_rest.config import RestConfig

__all__ = ["register"]


def _factory(name: str, config: RestConfig) -> RestBackend:
    from adapters.generic_rest.backend import RestBackend

    return RestBackend(name, config)


def register(registry: Registry) -> None:
    """The ``rest`` backend kind, by name (``Lazy``): loaded when a configuration names it;
    the ``webhooks:`` section, its listener (started by ``crm-bridge run``), the ``rest.pings``
    job that reads pinged records again, and the ``rest`` commands."""
    registry.add(Lazy("adapters.generic_rest.config:RestConfig"), usage="config.backend", name="rest")
    registry.add(_factory, usage="backend.factory", name="rest")
    registry.add(Lazy("adapters.generic_rest.config:WebhooksConfig"), usage="config.section", name="webhooks")
    registry.add(Lazy("adapters.generic_rest.pings:drain"), usage="job", name="rest.pings")
    registry.add(Lazy("adapters.generic_rest.webhook_server:start"), usage="run.service", name="webhooks")
    registry.add(Lazy("adapters.generic_rest.pings:check_webhooks"), usage="check.backend", name="webhooks")
    registry.add(Lazy("adapters.generic_rest.cli:rest_app",
                      summary="REST CRMs: the connector file's JSON Schema, a page as the connector reads it."),
                 usage="cli.group", name="rest")
