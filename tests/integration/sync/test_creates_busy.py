"""A 429/503 on a create stops the pass's creates, like an update's: the row that met it
backs off, the rows not tried wait as long as 1C asked and spend no attempt."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.store.records import create_record
from sync.tables import BindingRow, OutboxRow
from tests.integration.sync.test_creates import DOC, NOW, bridge, created_in_1c, emulator  # noqa: F401 - fixtures


def register_three(app: App) -> None:
    with app.store.transaction() as s:
        customer = s.scalars(
            select(BindingRow.local_id).where(BindingRow.model == "customer")
        ).first()
        for i in range(3):
            tid = create_record(
                s,
                "ticket",
                {
                    "number": f"WEB-{i}",
                    "subject": f"s{i}",
                    "type": "consultation",
                    "channel": "web_form",
                    "customer_id": customer,
                    "created_at": NOW,
                },
            )
            app.bus.unit(s, NOW, app.config).publish(
                DomainEvent("record.created", "ticket", tid, "intake")
            )


def creates(app: App) -> list[OutboxRow]:
    with app.store.transaction() as s:
        rows = list(
            s.scalars(
                select(OutboxRow).where(OutboxRow.operation == "create").order_by(OutboxRow.id)
            )
        )
        s.expunge_all()
    return rows


def test_an_overloaded_1c_stops_the_creates_too(
    emulator: Emulator,  # noqa: F811
    bridge: tuple[App, FrozenClock],  # noqa: F811
) -> None:
    app, clock = bridge
    register_three(app)
    emulator.inject("status", method="POST", entity_set=DOC, count=3, status=503, retry_after=60)
    app.run_job("sync.dispatch")
    posts = int(emulator.stats()["by_set"].get(DOC, {}).get("POST", 0))
    rows = creates(app)
    assert posts == 1, (
        f"{posts} POSTs to a 1C that answered 503 to the first; attempts {[r.attempts for r in rows]}"
    )
    assert sorted(r.attempts for r in rows) == [0, 0, 1]  # only the row that met the 503 spent one
    assert all(r.state == "pending" and r.claimed_by is None for r in rows)
    untried = [r for r in rows if r.attempts == 0]
    assert all(
        r.next_attempt_at >= clock.at + timedelta(seconds=60) and "waits" in (r.last_error or "")
        for r in untried
    ), [(r.next_attempt_at, r.last_error) for r in untried]
    emulator.faults.clear()  # 1C is back
    clock.at += timedelta(minutes=5)
    again = app.run_job("sync.dispatch")["demo-1c"]
    assert again["created"] == 3, again
    assert len(created_in_1c(emulator)) == 3
