"""A CRM nobody wrote code for, connected by a connector file and two mappings
(adapters/generic_rest/examples/helpline) over a real HTTP server on loopback: requests
and customers imported through offset paging, due dates written back with PUT replace
semantics (fields we do not map survive), verified by reading back, nothing sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.generic_rest.fixtures.helpline import Helpline, example_config
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import CustomerRow, TicketRow

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


@pytest.fixture
def helpline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Helpline]:
    with Helpline(tickets=250, clients=12, key="k-123") as server:
        monkeypatch.setenv("HELPLINE_URL", server.url)
        monkeypatch.setenv("HELPLINE_KEY", "k-123")
        yield server


def bridge(tmp_path: Path) -> App:
    app = App.from_text(example_config(f"sqlite:///{tmp_path / 's.db'}"), clock=FrozenClock(NOW))
    app.upgrade_db()
    return app


def test_requests_and_customers_are_imported_and_due_dates_written_back_whole(helpline: Helpline, tmp_path: Path) -> None:
    app = bridge(tmp_path)
    try:
        first = run_cycle(app)
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(TicketRow)) == 250
            assert s.scalar(select(func.count()).select_from(CustomerRow)) == 12
            planned = {t.number: t.resolution_due for t in s.scalars(select(TicketRow).where(TicketRow.resolution_due.is_not(None)))}
        assert helpline.calls["GET /tickets"] == 3  # 100 + 100 + 50: the count ends the listing
        assert planned, first
        written = {r["number"]: r for r in helpline.tickets.values() if r["due_by"] is not None}
        assert set(written) == set(planned)
        for number, due in planned.items():
            record = written[number]
            assert datetime.fromisoformat(record["due_by"]) == due
            assert record["note"] == f"internal note {record['id']}"  # PUT replaces: the record was sent whole
            assert record["rev"] == 2
        puts = helpline.calls["PUT /tickets/{id}"]
        assert puts == len(planned)
        again = run_cycle(app)
        assert helpline.calls["PUT /tickets/{id}"] == puts, again  # our own writes are not news: nothing sent twice
    finally:
        app.close()


def test_a_wrong_key_is_said_in_the_connectors_words(helpline: Helpline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_KEY", "wrong")
    app = bridge(tmp_path)
    try:
        (line, *_) = app.backend("helpline").check()
        assert not line["ok"]
        assert "HTTP 403: Helpline refused the API key (HELPLINE_KEY missing or wrong)" in line["detail"]
        assert "wrong" not in line["detail"].replace("missing or wrong", "")
    finally:
        app.close()


def test_a_server_that_ignores_the_offset_fails_the_pass_instead_of_looping(helpline: Helpline, tmp_path: Path) -> None:
    helpline.ignore_offset = True
    app = bridge(tmp_path)
    try:
        result = run_cycle(app)
        assert "same page twice" in str(result["sync.pull"])
        assert helpline.calls["GET /tickets"] <= 1 + 4  # the first page, and at most the 4 asked at once after it
    finally:
        app.close()
