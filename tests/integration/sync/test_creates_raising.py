"""A create whose call raises something the adapter does not translate (a bug, a value
its encoder refuses) is that row's fault alone: recorded with the reason, backed off,
its claim released; the other creates of the batch are made and recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from sync import claim as claims
from sync.tables import OutboxRow
from tests.integration.sync.test_creates import bridge, created_in_1c, emulator  # noqa: F401 - fixtures
from tests.integration.sync.test_creates_busy import creates, register_three


def test_a_create_raising_an_unexpected_exception_backs_off_alone(
    emulator: Emulator,  # noqa: F811
    bridge: tuple[App, FrozenClock],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _clock = bridge
    register_three(app)
    backend = app.backend("demo-1c")
    create = backend.create

    def create_but_not_s1(spec: Any, values: dict[str, Any]) -> Any:
        if values.get("Тема") == "s1":
            raise RuntimeError("an adapter bug")
        return create(spec, values)

    monkeypatch.setattr(backend, "create", create_but_not_s1)
    stats = app.run_job("sync.dispatch")["demo-1c"]
    rows = creates(app)
    assert stats["created"] == 2, stats
    assert len(created_in_1c(emulator)) == 2
    [bad] = [r for r in rows if r.state == "pending"]
    assert bad.attempts == 1
    assert "raised RuntimeError: an adapter bug" in (bad.last_error or "")
    assert all(r.claimed_by is None and r.claimed_by not in claims._sending for r in rows)


def test_a_look_up_raising_an_unexpected_exception_releases_the_batchs_claims(
    emulator: Emulator,  # noqa: F811
    bridge: tuple[App, FrozenClock],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _clock = bridge
    register_three(app)
    backend = app.backend("demo-1c")
    assert hasattr(backend, "find_many")

    def find_many(*args: Any) -> Any:
        raise KeyError("Ref_Key")

    monkeypatch.setattr(backend, "find_many", find_many)
    app.run_job("sync.dispatch")
    rows = creates(app)
    assert (
        created_in_1c(emulator, wait=0) == []
    )  # not created blind: the look-up is what prevents a duplicate
    assert [(r.state, r.attempts, r.claimed_by) for r in rows] == [("pending", 1, None)] * 3
    assert all("look-up of ticket keys raised KeyError" in (r.last_error or "") for r in rows), [
        r.last_error for r in rows
    ]
    with app.store.transaction() as s:
        assert s.scalar(select(OutboxRow.id).where(OutboxRow.claimed_by.is_not(None))) is None
