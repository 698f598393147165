"""One broken mapping file stops only its own model: the import of the others goes on,
and the run names the file, the line and the fix."""

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
from sync.tables import BindingRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
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
        live = sum(not d["DeletionMark"] for d in emulator.records("Document_Интерес"))
        assert summary["ticket"]["created"] == live > 0  # requests, customers and agents went on
        assert summary["customer"]["created"] > 0
        with app.store.transaction() as s:
            models = dict(s.execute(select(BindingRow.model, func.count()).group_by(BindingRow.model)).all())
        assert models.get("contact") is None
        assert models["ticket"] == live
    finally:
        app.close()
