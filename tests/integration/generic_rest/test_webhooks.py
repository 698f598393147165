"""Webhook pings over real sockets: the built-in listener in front of the Helpline fixture
server. Signed pings make the bridge read the record again (a burst about one record is
one read), forged or stale ones are answered 401 and logged without the secret, and a
ping kept before a crash is read by the next process."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from adapters.generic_rest.fixtures.helpline import Helpline, example_config
from adapters.generic_rest.pings import check_webhooks, drain, pending, receive
from adapters.generic_rest.webhook import sign
from adapters.generic_rest.webhook_server import WebhookServer, start
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow

SECRET = "hook-s3cret-value"
NOW = datetime.now(ZoneInfo("Europe/Moscow")).replace(microsecond=0)  # the signature's timestamp is checked against it


@pytest.fixture
def helpline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Helpline]:
    with Helpline(tickets=40, clients=3, key="k-1") as server:
        monkeypatch.setenv("HELPLINE_URL", server.url)
        monkeypatch.setenv("HELPLINE_KEY", "k-1")
        monkeypatch.setenv("HELPLINE_WEBHOOK_SECRET", SECRET)
        yield server


def bridge(tmp_path: Path) -> App:
    config = example_config(f"sqlite:///{tmp_path / 's.db'}", head='webhooks: {listen: "127.0.0.1:0", settle: 0.2}')
    app = App.from_text(config, clock=FrozenClock(NOW))
    app.upgrade_db()
    return app


def ping(server: WebhookServer, event: str, ticket: int, *, secret: str = SECRET, stamp: int | None = None) -> requests.Response:
    body = json.dumps({"event": event, "ticket": {"id": ticket}}).encode()
    at = str(stamp if stamp is not None else int(NOW.timestamp()))
    host, port = server.address
    return requests.post(f"http://{host}:{port}/webhooks/helpline", data=body, timeout=10,
                         headers={"Content-Type": "application/json", "X-Helpline-Timestamp": at,
                                  "X-Helpline-Signature": sign(secret, at, body)})


def subject(app: App, number: str) -> str:
    with app.store.transaction() as s:
        return str(s.scalar(select(TicketRow.subject).where(TicketRow.number == number)))


def settled(app: App, server: WebhookServer, drains: int) -> None:
    deadline = time.monotonic() + 30
    while pending(app) or server.drains <= drains:
        assert time.monotonic() < deadline, "the pings were not read again"
        time.sleep(0.05)


def test_a_burst_of_signed_pings_reads_each_record_again_once(helpline: Helpline, tmp_path: Path) -> None:
    app = bridge(tmp_path)
    server = start(app)
    assert server is not None
    try:
        run_cycle(app)
        settled(app, server, 0)  # the drain at start finds nothing
        drains = server.drains
        helpline.tickets[7] |= {"subject": "Принтер снова не печатает", "rev": helpline.tickets[7]["rev"] + 1}
        reads = helpline.calls["GET /tickets/{id}"]
        answers = [ping(server, "ticket.updated", 7) for _ in range(5)] + [ping(server, "ticket.created", 8)]
        assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
        settled(app, server, drains)
        assert subject(app, "HL-00007") == "Принтер снова не печатает"
        assert helpline.calls["GET /tickets/{id}"] - reads == 2  # 7 and 8: five pings about 7 made one read
        other = ping(server, "client.deleted", 1)
        assert other.status_code == 200
        assert "no rule matches" in other.text
    finally:
        server.close()
        app.close()


def test_forged_and_stale_pings_are_refused_and_logged_without_the_secret(
    helpline: Helpline, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    app = bridge(tmp_path)
    server = start(app)
    assert server is not None
    try:
        with caplog.at_level(logging.INFO, logger="adapters.generic_rest.pings"):
            forged = ping(server, "ticket.updated", 7, secret="guessed")
            stale = ping(server, "ticket.updated", 7, stamp=int(NOW.timestamp()) - 3600)
        assert (forged.status_code, stale.status_code) == (401, 401)
        rejected = [r for r in caplog.records if getattr(r, "event", "") == "rest.webhook.rejected"]
        assert [r.getMessage().rpartition(": ")[2] for r in rejected] == [
            "the signature does not match", "the timestamp is 3600 s away from now (tolerance 300 s)"]
        assert all(SECRET not in r.getMessage() for r in caplog.records)
        assert pending(app) == 0
        host, port = server.address
        unknown = requests.post(f"http://{host}:{port}/webhooks/helpdesk", data=b"{}", timeout=10)
        assert unknown.status_code == 404
    finally:
        server.close()
        app.close()


def test_a_ping_kept_before_a_crash_is_read_by_the_next_process(helpline: Helpline, tmp_path: Path) -> None:
    first = bridge(tmp_path)
    run_cycle(first)
    body = json.dumps({"event": "ticket.updated", "ticket": {"id": 12}}).encode()
    at = str(int(NOW.timestamp()))
    headers = {"X-Helpline-Timestamp": at, "X-Helpline-Signature": sign(SECRET, at, body)}
    assert receive(first, "helpline", headers, body, NOW, content_type="application/json") == (202, "1 records to read again")
    assert receive(first, "helpline", headers, body, NOW, content_type="application/json")[0] == 202  # delivered twice
    first.close()  # the process dies before any drain
    helpline.tickets[12] |= {"subject": "Изменено до перезапуска", "rev": helpline.tickets[12]["rev"] + 1}
    second = bridge(tmp_path)
    try:
        assert pending(second) == 1  # one row: the repeat was coalesced
        assert drain(second, NOW) == {"helpline": {"read": 1, "imported": 1, "unmapped": 0}}
        assert subject(second, "HL-00012") == "Изменено до перезапуска"
        assert pending(second) == 0
    finally:
        second.close()


def test_check_says_where_pings_go_and_that_an_empty_secret_refuses_them(
    helpline: Helpline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = bridge(tmp_path)
    try:
        assert check_webhooks(app, "helpline") == [
            {"ok": True, "detail": "pings to http://127.0.0.1:0/webhooks/helpline, verified by hmac_sha256"}]
    finally:
        app.close()
    monkeypatch.setenv("HELPLINE_WEBHOOK_SECRET", "")
    app = bridge(tmp_path)
    try:
        (line,) = check_webhooks(app, "helpline")
        assert not line["ok"]
        assert "is empty: every ping to /webhooks/helpline is refused (401)" in line["detail"]
    finally:
        app.close()
