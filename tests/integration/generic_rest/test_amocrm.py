"""The shipped amoCRM connector against a local amoCRM that behaves as its API documentation
says (adapters/generic_rest/fixtures/amocrm.py): OAuth with single-use refresh tokens,
HAL pages, 204 for nothing, unix dates, custom fields by id, partial PATCH answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.generic_rest.fixtures.amocrm import AmoCRM
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow

SHIPPED = Path(__file__).parents[3] / "adapters" / "generic_rest" / "connectors" / "amocrm"


@pytest.fixture
def amo(monkeypatch: pytest.MonkeyPatch) -> Iterator[AmoCRM]:
    with AmoCRM(leads=40, companies=6, users=4) as server:
        for name, value in {"AMOCRM_URL": server.url, "AMOCRM_TOKEN_URL": f"{server.origin}/oauth2/access_token",
                            "AMOCRM_CLIENT_ID": server.client_id, "AMOCRM_CLIENT_SECRET": server.client_secret,
                            "AMOCRM_REFRESH_TOKEN": "install-refresh-token",
                            "AMOCRM_REDIRECT_URI": server.redirect_uri}.items():
            monkeypatch.setenv(name, value)
        yield server


def bridge(tmp_path: Path, now: datetime) -> App:
    app = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  amo:
    kind: rest
    connector: {SHIPPED / 'connector.yaml'}
    mappings: {SHIPPED / 'mappings'}
    models: [agent, customer, ticket]
    token_file: {tmp_path / 'tokens.json'}
""", clock=FrozenClock(now))
    app.upgrade_db()
    return app


def test_leads_companies_and_users_sync_and_due_dates_reach_the_custom_field(amo: AmoCRM, tmp_path: Path) -> None:
    app = bridge(tmp_path, datetime.now(UTC))
    try:
        first = run_cycle(app)
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(TicketRow)) == 40, first
            assert s.scalar(select(func.count()).select_from(CustomerRow)) == 6
            assert s.scalar(select(func.count()).select_from(AgentRow)) == 4
            planned = {int(t.number.removeprefix("AMO-")): t.resolution_due
                       for t in s.scalars(select(TicketRow).where(TicketRow.resolution_due.is_not(None)))}
            linked = s.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.customer_id.is_not(None)))
        assert linked == 40  # _embedded.companies.0.id, extracted
        assert planned
        for lead_id, due in planned.items():
            assert amo.due_of(lead_id) == int(due.timestamp())  # custom field 900001, unix seconds
        patches = amo.calls["PATCH /leads/{id}"]
        assert patches == len(planned)
        assert amo.refreshes == 1  # one token exchange, the installation's refresh token spent
        stored = json.loads((tmp_path / "tokens.json").read_text())["amo"]
        assert stored["refresh_token"] in amo.refresh_tokens
        run_cycle(app)
        assert amo.calls["PATCH /leads/{id}"] == patches  # nothing written twice
    finally:
        app.close()


def test_a_restarted_bridge_goes_on_with_the_rotated_refresh_token(amo: AmoCRM, tmp_path: Path) -> None:
    amo.token_life = 1  # access tokens expire at once: every start needs an exchange
    first = bridge(tmp_path, datetime.now(UTC))
    try:
        run_cycle(first)
    finally:
        first.close()
    assert "install-refresh-token" not in amo.refresh_tokens  # spent: using it again would be invalid_grant
    again = bridge(tmp_path, datetime.now(UTC))
    try:
        pulled = run_cycle(again)["sync.pull"]["amo"]
        assert "error" not in pulled, pulled
        assert all(not pulled[m]["errors"] and not pulled[m]["failed"] for m in ("agent", "customer", "ticket")), pulled
        assert pulled["agent"]["read"] == 4  # read with a token got by the rotated refresh token
    finally:
        again.close()
    assert amo.refreshes >= 2
