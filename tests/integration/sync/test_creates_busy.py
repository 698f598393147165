"""Review finding: creates go over the lanes with a `Stop()` nothing ever meets
(sync/creates.py, `run_lanes(..., stop=Stop())`; `_call_create` never calls `stop.met`).
A 503/429 on one create does not hold the pass's other creates (nor the updates after
them): every create is still POSTed to the overloaded 1C and each spends an attempt,
where an update pass stops at the first and the rest wait, spending none."""

from __future__ import annotations

from sqlalchemy import select

from crm_bridge.events import DomainEvent
from crm_bridge.store.records import create_record
from sync.tables import BindingRow, OutboxRow
from tests.integration.sync.test_creates import DOC, NOW, bridge, emulator  # noqa: F401 - fixtures


def test_an_overloaded_1c_stops_the_creates_too(emulator, bridge) -> None:  # noqa: F811
    app, _clock = bridge
    with app.store.transaction() as s:
        customer = s.scalars(select(BindingRow.local_id).where(BindingRow.model == "customer")).first()
        for i in range(3):
            tid = create_record(s, "ticket", {"number": f"WEB-{i}", "subject": f"s{i}", "type": "consultation",
                                              "channel": "web_form", "customer_id": customer, "created_at": NOW})
            app.bus.unit(s, NOW, app.config).publish(DomainEvent("record.created", "ticket", tid, "intake"))
    emulator.inject("status", method="POST", entity_set=DOC, count=3, status=503, retry_after=60)
    app.run_job("sync.dispatch")
    posts = int(emulator.stats()["by_set"].get(DOC, {}).get("POST", 0))
    with app.store.transaction() as s:
        attempts = sorted(r.attempts for r in s.scalars(select(OutboxRow).where(OutboxRow.operation == "create")))
    assert posts == 1, f"{posts} POSTs to a 1C that answered 503 to the first; attempts spent {attempts}"
