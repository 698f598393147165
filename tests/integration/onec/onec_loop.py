"""What the fault tests share: the loop's clock and bridge against the 1C emulator, and the
check that the store and 1C agree after it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from adapters.onec.cli import demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow

__all__ = ["DOC", "MOSCOW", "NOW", "assert_in_agreement", "loop_app", "outbox", "settle"]

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"


def loop_app(emulator: Emulator, folder: Path, clock: FrozenClock) -> App:
    """A bridge on `clock` with short timeouts and pages of ten, its store upgraded."""
    text = demo_config(emulator.base_url, folder / "s.db") + "    timeout: {connect: 2, read: 1}\n    page_size: 10\n    scan_page_size: 10\n"
    app = App.from_text(text, clock=clock)
    app.upgrade_db()
    return app


def assert_in_agreement(app: App, emulator: Emulator) -> None:
    """Every live request bound once, nothing pending or parked, 1C's due dates = ours."""
    live = {d["Ref_Key"]: d for d in emulator.records(DOC) if not d["DeletionMark"]}
    with app.store.transaction() as s:
        bindings = {b.remote_id: b for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))}
        assert set(bindings) == set(live)
        assert s.scalar(select(func.count()).select_from(TicketRow)) == len(live)
        assert s.scalars(select(OutboxRow).where(OutboxRow.state.in_(("pending", "parked")))).all() == []
        for key, binding in bindings.items():
            ticket = s.get(TicketRow, binding.local_id)
            assert ticket is not None
            due = ("0001-01-01T00:00:00" if ticket.resolution_due is None
                   else ticket.resolution_due.astimezone(MOSCOW).replace(tzinfo=None).isoformat())
            assert live[key]["СрокИсполнения"] == due, live[key]["Number"]
        with_due = s.scalars(select(TicketRow).where(TicketRow.resolution_due.is_not(None))).all()
        assert len(with_due) > 0.7 * len(live)


def outbox(app: App, state: str) -> list[OutboxRow]:
    with app.store.transaction() as s:
        rows = list(s.scalars(select(OutboxRow).where(OutboxRow.state == state)))
        s.expunge_all()
    return rows


def settle(app: App, clock: FrozenClock) -> None:
    """Time passes (past any back-off) and the loop runs again."""
    clock.at += timedelta(hours=2)
    app.run_job("sync.dispatch")
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")  # a write that landed although its answer was lost comes back as our own echo
    app.run_job("sla.tick")
    app.run_job("sync.dispatch")
