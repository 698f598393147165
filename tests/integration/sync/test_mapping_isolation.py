"""Bad configuration stays local: one broken mapping file stops only its own model (the
import of the others goes on, the run names the file, the line and the fix), and a value
1C cannot store (a due date past 3999-12-31) parks its row instead of being sent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.adapter import DEFAULT_MAPPINGS
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.runner import run_cycle
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=11, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def test_an_alias_bomb_in_the_contact_mapping_leaves_the_other_models_importing(emulator: Emulator, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    (mappings / "contact.yaml").write_text(BOMB, encoding="utf-8")
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db") + f"    mappings: {mappings}\n", encoding="utf-8")
    app = App.from_file(config)
    app.clock = FrozenClock(NOW)
    try:
        app.upgrade_db()
        summary = app.run_job("sync.pull", NOW)["demo-1c"]
        assert summary["contact"]["error"].startswith(f"{mappings / 'contact.yaml'}:5:")
        assert "aliases in this file expand to more than 10,000 values" in summary["contact"]["error"]
        live = sum(not d["DeletionMark"] for d in emulator.records(DOC))
        assert summary["ticket"]["created"] == live > 0  # requests, customers and agents went on
        assert summary["customer"]["created"] > 0
        with app.store.transaction() as s:
            models = dict(s.execute(select(BindingRow.model, func.count()).group_by(BindingRow.model)).all())
        assert models.get("contact") is None
        assert models["ticket"] == live
    finally:
        app.close()


def test_a_due_date_past_3999_is_parked_with_the_reason_and_never_reaches_1c(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=clock)
    try:
        app.upgrade_db()
        run_cycle(app)
        doc = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
        key, before = str(doc["Ref_Key"]), doc["DataVersion"]
        far = datetime(4000, 1, 1, 12, 0, tzinfo=MOSCOW)
        with app.store.transaction() as s:  # a decision past 1C's last date (no policy can make one: bounded)
            local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key, BindingRow.model == "ticket")).one()
            app.bus.unit(s, clock(), app.config).publish(
                DomainEvent("record.changed", "ticket", local_id, "test", {"fields": {"resolution_due": far}}))
        patches = emulator.stats()["by_set"].get(DOC, {}).get("PATCH", 0)
        result = app.run_job("sync.dispatch", NOW)["demo-1c"]
        assert result["parked"] == 1
        assert emulator.stats()["by_set"].get(DOC, {}).get("PATCH", 0) == patches  # nothing sent
        assert emulator.get(DOC, key)["DataVersion"] == before  # type: ignore[index]
        with app.store.transaction() as s:
            row = s.scalars(select(OutboxRow).where(OutboxRow.origin == "test")).one()
            assert row.state == "parked"
            assert "СрокИсполнения: 4000-01-01T12:00:00+03:00 is past 3999-12-31" in (row.last_error or "")
    finally:
        app.close()
