"""Sync metrics: outbox depth, conflicts, bindings, last runs and lag."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from crm_bridge.app import App
from sync.quarantine import QuarantineRow
from sync.tables import BindingRow, ConflictRow, OutboxRow, SyncRunRow

__all__ = ["SyncCollector"]


class SyncCollector(Collector):
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        now = self.app.clock()
        outbox = GaugeMetricFamily("crm_bridge_outbox_rows", "Outbox rows by state.", labels=["backend", "state"])
        conflicts = GaugeMetricFamily("crm_bridge_conflicts_open", "Conflicts waiting for a decision.", labels=["backend"])
        bindings = GaugeMetricFamily("crm_bridge_bindings", "Bound records.", labels=["backend", "model", "state"])
        records = CounterMetricFamily("crm_bridge_sync_records", "Records handled by sync runs.", labels=["backend", "kind", "outcome"])
        runs = CounterMetricFamily("crm_bridge_sync_runs", "Sync runs.", labels=["backend", "kind", "status"])
        lag = GaugeMetricFamily("crm_bridge_import_lag_seconds", "Seconds since the last successful import.", labels=["backend"])
        quarantine = GaugeMetricFamily("crm_bridge_quarantine_records", "Remote records set aside (held) or stored repaired "
                                       "(note), by stage.", labels=["backend", "model", "stage", "kind"])
        with self.app.store.transaction() as s:
            for backend, state, count in s.execute(select(OutboxRow.backend, OutboxRow.state, func.count()).group_by(OutboxRow.backend, OutboxRow.state)):
                outbox.add_metric([backend, state], count)
            for backend, count in s.execute(select(ConflictRow.backend, func.count()).where(ConflictRow.state == "open").group_by(ConflictRow.backend)):
                conflicts.add_metric([backend], count)
            for backend, model, state, count in s.execute(
                select(BindingRow.backend, BindingRow.model, BindingRow.state, func.count()).group_by(BindingRow.backend, BindingRow.model, BindingRow.state)
            ):
                bindings.add_metric([backend, model, state], count)
            totals = s.execute(
                select(SyncRunRow.backend, SyncRunRow.kind, SyncRunRow.status, func.count(), func.sum(SyncRunRow.read),
                       func.sum(SyncRunRow.created_count), func.sum(SyncRunRow.updated_count), func.sum(SyncRunRow.failed))
                .group_by(SyncRunRow.backend, SyncRunRow.kind, SyncRunRow.status)
            )
            for backend, kind, status, count, read, created, updated, failed in totals:
                runs.add_metric([backend, kind, status], count)
                for outcome, value in (("read", read), ("created", created), ("updated", updated), ("failed", failed)):
                    records.add_metric([backend, kind, outcome], value or 0)
            for backend, finished in s.execute(
                select(SyncRunRow.backend, func.max(SyncRunRow.finished)).where(SyncRunRow.kind == "import", SyncRunRow.status == "ok").group_by(SyncRunRow.backend)
            ):
                if finished is not None:
                    lag.add_metric([backend], max(0.0, (now - finished).total_seconds()))
            for backend, model, stage, imported, count in s.execute(
                select(QuarantineRow.backend, QuarantineRow.model, QuarantineRow.stage, QuarantineRow.imported, func.count())
                .group_by(QuarantineRow.backend, QuarantineRow.model, QuarantineRow.stage, QuarantineRow.imported)
            ):
                quarantine.add_metric([backend, model, stage, "note" if imported else "held"], count)
        yield from (outbox, conflicts, bindings, records, runs, lag, quarantine)
