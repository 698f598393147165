"""`crm-bridge jobs retry | cancel` of ids that name no outbox row: said, nothing changed,
exit 1 — an operator who mistypes an id learns it instead of reading "0 row(s)"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_bridge.app import App
from sync.tables import OutboxRow
from tests.acceptance.embedded import logging_kept, run


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\n", encoding="utf-8")
    bridge = App.from_text(path.read_text(encoding="utf-8"))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            for state in ("parked", "sent"):
                s.add(OutboxRow(backend="crm", model="ticket", local_id=1, identity_key=f"k-{state}",
                                fields={"status": "closed"}, origin="test", state=state))
    finally:
        bridge.close()
    with logging_kept():
        yield path


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return run("-c", str(config), *args)


def states(config: Path) -> dict[int, str]:
    bridge = App.from_text(config.read_text(encoding="utf-8"))
    try:
        with bridge.store.transaction() as s:
            return {row.id: row.state for row in s.scalars(select(OutboxRow))}
    finally:
        bridge.close()


def test_retry_of_an_unknown_id_says_so_changes_nothing_and_exits_1(config: Path) -> None:
    before = states(config)
    parked = next(i for i, state in before.items() if state == "parked")
    code, out, err = cli(config, "jobs", "retry", str(parked), "999")
    assert code == 1
    assert err.strip() == "no outbox row 999; nothing was changed (crm-bridge jobs list shows the rows)"
    assert states(config) == before  # the known row was not retried either


def test_cancel_of_unknown_ids_exits_1_too(config: Path) -> None:
    code, _, err = cli(config, "jobs", "cancel", "998", "999", "--json")
    assert code == 1
    assert "no outbox row 998, 999" in err


def test_retry_of_a_sent_row_says_why_it_is_left(config: Path) -> None:
    sent = next(i for i, state in states(config).items() if state == "sent")
    code, out, err = cli(config, "jobs", "retry", str(sent), "--json")
    assert code == 1
    assert json.loads(out) == {"retried": [], "refused": [f"row {sent} is sent, not pending or parked: left as it is"]}


def test_retry_of_a_parked_row_sets_it_pending(config: Path) -> None:
    parked = next(i for i, state in states(config).items() if state == "parked")
    code, out, _ = cli(config, "jobs", "retry", str(parked))
    assert code == 0
    assert "1 row(s) will be sent at the next dispatch" in out
    assert states(config)[parked] == "pending"


def test_retry_without_ids_asks_for_them(config: Path) -> None:
    code, _, err = cli(config, "jobs", "retry")
    assert code == 1
    assert "--all-parked" in err
