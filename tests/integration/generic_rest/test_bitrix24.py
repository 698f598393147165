"""The shipped Bitrix24 connector against a local portal that behaves as the REST
documentation says (adapters/generic_rest/fixtures/bitrix24.py): the webhook token in the
URL, 50 a page by start, 503 QUERY_LIMIT_EXCEEDED over 2 requests a second, writes as
{"id", "fields"} answered {"result": true}."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.generic_rest.fixtures.bitrix24 import Bitrix24
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow

SHIPPED = Path(__file__).parents[3] / "adapters" / "generic_rest" / "connectors" / "bitrix24"
MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bitrix24]:
    with Bitrix24(deals=120, companies=8, users=3) as server:
        monkeypatch.setenv("BITRIX24_WEBHOOK", server.webhook)
        monkeypatch.setenv("BITRIX24_TOKEN", server.token)
        yield server


def bridge(tmp_path: Path) -> App:
    app = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  b24:
    kind: rest
    connector: {SHIPPED / 'connector.yaml'}
    mappings: {SHIPPED / 'mappings'}
    models: [agent, customer, ticket]
""", clock=FrozenClock(datetime.now(MSK)))
    app.upgrade_db()
    return app


def test_deals_companies_and_users_sync_and_due_dates_are_written_as_fields(portal: Bitrix24, tmp_path: Path) -> None:
    app = bridge(tmp_path)
    try:
        first = run_cycle(app)
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(TicketRow)) == 120, first
            assert s.scalar(select(func.count()).select_from(CustomerRow)) == 8
            assert s.scalar(select(func.count()).select_from(AgentRow)) == 3
            planned = {t.number.removeprefix("B24-"): t.resolution_due
                       for t in s.scalars(select(TicketRow).where(TicketRow.resolution_due.is_not(None)))}
        assert portal.calls["crm.deal.list"] == 3  # 50 + 50 + 20, following "next"
        assert planned
        for deal_id, due in planned.items():
            assert datetime.fromisoformat(portal.deals[deal_id]["UF_CRM_SLA_DUE"]) == due
        updates = portal.calls["crm.deal.update"]
        assert updates == len(planned)
        run_cycle(app)
        assert portal.calls["crm.deal.update"] == updates  # our own writes are not news
    finally:
        app.close()


def test_a_wrong_webhook_token_is_said_without_the_token(portal: Bitrix24, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITRIX24_TOKEN", "not-the-token")
    app = bridge(tmp_path)
    try:
        lines = app.backend("b24").check()
        assert not lines[0]["ok"]
        assert "Bitrix24 refused the webhook" in lines[0]["detail"]
        assert "not-the-token" not in lines[0]["detail"]
    finally:
        app.close()
