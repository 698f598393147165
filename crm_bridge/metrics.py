"""Prometheus metrics, read from the store at scrape time.

Nothing is counted in memory, so every process (the embedded runner, any worker, the
one-shot ``crm-bridge metrics`` command) exposes the same figures. Addons add collectors
with ``registry.add(factory, usage="metrics.collector", name="sync")`` where
``factory(app)`` returns a ``prometheus_client`` collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow

__all__ = ["TicketCollector", "collector_registry", "render", "serve"]


class TicketCollector(Collector):
    """Open tickets by status and SLA state."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        tickets = GaugeMetricFamily("crm_bridge_tickets", "Tickets in the store.", labels=["status", "sla_state"])
        with self.app.store.transaction() as s:
            for status, state, count in s.execute(
                select(TicketRow.status, TicketRow.sla_state, func.count())
                .where(TicketRow.deleted.is_(False))
                .group_by(TicketRow.status, TicketRow.sla_state)
            ):
                tickets.add_metric([status, state or "none"], count)
        yield tickets


def collector_registry(app: App) -> CollectorRegistry:
    """A registry holding the core collector and every addon's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TicketCollector(app))
    for comp in app.registry.all("metrics.collector"):
        collector: Any = comp.obj(app)
        registry.register(collector)
    return registry


def render(app: App) -> bytes:
    """The metrics in the Prometheus text format."""
    return bytes(generate_latest(collector_registry(app)))


def serve(app: App, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on `host`:`port` from a daemon thread; returns the server."""
    server, _thread = start_http_server(port, addr=host, registry=collector_registry(app))
    return server
