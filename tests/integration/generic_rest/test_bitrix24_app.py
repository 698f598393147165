"""The Bitrix24 connector as an application (connectors/bitrix24/app.yaml): OAuth 2.0 through
the portal's /oauth/token/ as oauth.bitrix.info answers it, single-use refresh tokens kept
in the token file before use, ``?auth=`` on each call, ``expired_token`` answered by a new
login, and a restarted bridge going on with the rotated token."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.generic_rest.fixtures.bitrix24 import Bitrix24
from crm_bridge.app import App, FrozenClock
from crm_bridge.cli.common import _Redact
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow

SHIPPED = Path(__file__).parents[3] / "adapters" / "generic_rest" / "connectors" / "bitrix24"


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bitrix24]:
    with Bitrix24(deals=8, companies=2, users=2) as server:
        for name, value in {"BITRIX24_PORTAL": f"{server.origin}/rest", "BITRIX24_TOKEN_URL": f"{server.origin}/oauth/token/",
                            "BITRIX24_CLIENT_ID": server.client_id, "BITRIX24_CLIENT_SECRET": server.client_secret,
                            "BITRIX24_REFRESH_TOKEN": "install-refresh-token"}.items():
            monkeypatch.setenv(name, value)
        yield server


def bridge(tmp_path: Path) -> App:
    app = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  b24:
    kind: rest
    connector: {SHIPPED / 'app.yaml'}
    mappings: {SHIPPED / 'mappings'}
    models: [agent, customer, ticket]
    token_file: {tmp_path / 'tokens.json'}
""", clock=FrozenClock(datetime.now(ZoneInfo("Europe/Moscow"))))
    app.upgrade_db()
    return app


def test_an_application_logs_in_rotates_its_refresh_token_and_goes_on_after_a_restart(
        portal: Bitrix24, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = bridge(tmp_path)
    try:
        first = run_cycle(app)
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(TicketRow)) == 8, first
        assert portal.refreshes == 1
        stored = json.loads((tmp_path / "tokens.json").read_text(encoding="utf-8"))["b24"]
        assert stored["refresh_token"] == portal.refresh_token != "install-refresh-token"  # kept before it was used
        portal.expire_tokens()  # an hour later
        run_cycle(app)
        assert portal.refreshes == 2  # expired_token: logged in again once, and the pass went on
    finally:
        app.close()
    assert json.loads((tmp_path / "tokens.json").read_text(encoding="utf-8"))["b24"]["refresh_token"] == portal.refresh_token
    portal.expire_tokens()
    again = bridge(tmp_path)  # a restart: the installation's refresh token is spent, the stored one is used
    try:
        run_cycle(again)
        assert portal.refreshes == 3
        assert portal.calls["crm.deal.list"] >= 3
    finally:
        again.close()
    secrets = [*portal.access, portal.refresh_token, portal.client_secret]
    for record in caplog.records:  # urllib3's debug lines hold the URL: the log handler's filter redacts them
        if any(s in record.getMessage() for s in secrets):
            assert record.name.startswith("urllib3"), record.getMessage()
            _Redact().filter(record)
            assert record.getMessage() == "[redacted: the message contained a secret]"


def test_a_spent_refresh_token_says_to_authorise_the_application_again(portal: Bitrix24, tmp_path: Path) -> None:
    portal.refresh_token = "someone-else-used-it"
    app = bridge(tmp_path)
    try:
        (line, *_) = app.backend("b24").check()
        assert not line["ok"]
        assert "invalid_grant" in line["detail"]
        assert "authorise the integration in the CRM again" in line["detail"]
    finally:
        app.close()
