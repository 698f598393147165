"""Web addon: the supervisor dashboard (login, CSRF-protected forms), the customer's cabinet
opened from a signed link (``crm_bridge.links``), ``/healthz`` and ``/metrics``, served by
``crm-bridge web`` or inside ``crm-bridge run --web PORT``. Example::

    from web.serve import WebServer
    with WebServer(app, "127.0.0.1", 0) as web:
        print(f"{web.url}/dashboard")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy

if TYPE_CHECKING:
    from crm_bridge.registry import Registry

__all__ = ["register"]


def register(registry: Registry) -> None:
    """Register the ``web`` config section, the ``web`` commands, the server that
    ``run --web`` starts and the pages' check, each by name: FastAPI and uvicorn load only when used."""
    registry.add(Lazy("web.settings:WebConfig"), usage="config.section", name="web")
    registry.add(Lazy("web.cli:web_app", summary="Web pages: the supervisor dashboard and the customers' cabinet."),
                 usage="cli.group", name="web")
    registry.add(Lazy("web.serve:serve_background"), usage="web.server", name="web")
    registry.add(Lazy("web.pages:check_pages"), usage="check.app", name="web pages")
