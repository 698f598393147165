"""An update whose call raises something the adapter does not translate (a bug, a value
its encoder chokes on) is that row's fault alone: recorded with the reason and backed
off (parked once out of attempts), its claim released; the other rows are written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from sync import claim as claims
from sync.tables import OutboxRow


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=12, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def test_an_update_raising_an_unexpected_exception_backs_off_alone(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"))
    try:
        app.upgrade_db()
        app.run_job("sync.pull")
        app.run_job("sla.tick")
        with app.store.transaction() as s:
            due = list(s.scalars(select(OutboxRow).where(OutboxRow.state == "pending", OutboxRow.operation == "update")))
        assert len(due) > 3
        backend = app.backend("demo-1c")
        update = backend.update
        bad: list[str] = []

        def update_but_not_the_first(spec: Any, remote_id: str, values: Any, **kwargs: Any) -> Any:
            if not bad or bad[0] == remote_id:
                bad[:] = [remote_id]
                raise RuntimeError("an adapter bug")
            return update(spec, remote_id, values, **kwargs)

        monkeypatch.setattr(backend, "update", update_but_not_the_first)
        app.run_job("sync.dispatch")
        with app.store.transaction() as s:
            rows = list(s.scalars(select(OutboxRow).where(OutboxRow.operation == "update")))
            left = [r for r in rows if r.state != "sent"]
            assert len(left) == 1, [(r.id, r.state, r.last_error) for r in left]
            [row] = left
            assert (row.state, row.attempts) == ("pending", 1)
            assert "raised RuntimeError: an adapter bug" in (row.last_error or "")
            assert row.next_attempt_at is not None
            assert all(r.claimed_by is None for r in rows)
            assert not claims._sending
    finally:
        app.close()
