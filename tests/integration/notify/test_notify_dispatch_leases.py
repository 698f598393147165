"""Dispatch against real local servers when passes overlap or run long: leases taken from
the current clock, messages claimed one at a time, a message recorded as a whole, and a
webhook signed at the moment of its POST."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from notify_fixtures import NOW, add_request, publish
from sqlalchemy import select
from test_notify_channels import breach, make_app

import notify.dispatch
from crm_bridge.app import FrozenClock
from notify.channels import Outcome
from notify.channels.fakes import FakeSmsRu, FakeTelegram, WebhookReceiver
from notify.outgoing import Outgoing
from notify.sink import SmtpSink
from notify.tables import NotificationRow

Servers = tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]


def test_a_webhook_is_signed_when_it_is_posted_not_when_the_pass_began(
        tmp_path: Path, sink: SmtpSink, servers: Servers) -> None:
    sms, tg, hook = servers
    hook.clock = time.time  # a receiver on real time
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["sms:+79991234567"]')
    app.clock = lambda: datetime.now(UTC)  # the bridge on real time too
    began = datetime.now(UTC) - timedelta(minutes=10)  # a pass that began ten minutes ago (the receiver allows 5)
    publish(app, breach(add_request(app)), now=began)
    app.run_job("notify.dispatch", began)
    assert hook.rejected == 0
    assert len(hook.received) == 1


def test_a_second_dispatcher_started_while_the_first_still_sends_sends_no_row_twice(
        tmp_path: Path, sink: SmtpSink, servers: Servers, monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    sms, tg, hook = servers
    clock = FrozenClock(NOW)
    hook.clock = lambda: clock.at.timestamp()
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["sms:+79991234567"]', clock=clock, store_url=store_url)
    for number in ("CRM-0000042", "CRM-0000043", "CRM-0000044"):  # three SMS to one number
        publish(app, breach(add_request(app, number=number)))
    real_senders = notify.dispatch.senders
    overlapped: list[dict[str, Any]] = []

    def senders(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = real_senders(*args, **kwargs)
        sms_sender = out["sms"]
        send = sms_sender.send

        def slow_send(batch: Sequence[Outgoing]) -> list[Outcome]:
            if not overlapped:  # the first SMS is on its way when, 12 minutes on, a second dispatcher starts
                overlapped.append({})
                clock.at = NOW + timedelta(minutes=12)
                overlapped.append(app.run_job("notify.dispatch"))
            return send(batch)

        sms_sender.send = slow_send
        return out

    monkeypatch.setattr(notify.dispatch, "senders", senders)
    clock.at = NOW + timedelta(minutes=8)  # the pass took its due rows at NOW, claims eight minutes later
    try:
        app.run_job("notify.dispatch", NOW)
        with app.store.transaction() as s:
            states = [r.state for r in s.scalars(select(NotificationRow).where(NotificationRow.channel == "sms"))]
    finally:
        app.store.close()
    texts = [m["msg"] for m in sms.sent]
    assert len(texts) == 3
    assert len(set(texts)) == 3
    assert overlapped[1]["sent"] >= 2  # the second dispatcher sent what the first had not claimed yet
    assert states == ["sent"] * 3


def test_a_digests_rows_are_recorded_together_or_not_at_all(
        tmp_path: Path, sink: SmtpSink, servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    sms, tg, hook = servers
    app = make_app(tmp_path, sink, sms, tg, hook, breach='["telegram:-1001234567890"]')
    publish(app, *(breach(add_request(app, number=f"CRM-{n:07d}")) for n in range(1, 7)))
    record_row = notify.dispatch._record_row
    recorded: list[int] = []

    def crash_on_the_third(session: Any, row: NotificationRow, *args: Any, **kwargs: Any) -> None:
        if row.channel == "telegram":
            if len(recorded) == 2:
                raise SystemExit("killed while recording the digest")
            recorded.append(row.id)
        record_row(session, row, *args, **kwargs)

    monkeypatch.setattr(notify.dispatch, "_record_row", crash_on_the_third)
    with pytest.raises(SystemExit):
        app.run_job("notify.dispatch")
    assert len(tg.sent) == 1  # one digest of six rows went out
    with app.store.transaction() as s:
        states = {r.state for r in s.scalars(select(NotificationRow).where(NotificationRow.channel == "telegram"))}
    assert states == {"pending"}  # none half-recorded: all six fall due again after the lease, as one digest
