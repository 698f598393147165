"""A bridge on the 1C emulator with intake's SMTP receiver and notify's sink, all on loopback."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from intake.receiver import SmtpReceiver
from notify.sink import SmtpSink

DOC = "Document_Интерес"
INTAKE = """intake:
  smtp: {port: 0, recipients: [support@demo.example], max_bytes: 200000}
  max_attachment: 50000
  repeat_window: 3d
  rules:
    - {name: outage, keywords: [не работает, авария], type: technical_problem, priority: high}
    - {name: billing, keywords: [счёт, оплата], type: consultation}
sla:   # one policy with a next-response target: the customer's messages start its cycles
  policies:
    - {name: all, calendar: 24x7, targets: {first_response: 1h, next_response: 2h, resolution: 8h}}
"""
EXTRA = "    create_remote: [ticket]\n    post_created: [ticket]\n    timeout: {connect: 2, read: 2}\n"


@dataclass
class Desk:
    app: App
    emulator: Emulator
    sink: SmtpSink
    receiver: SmtpReceiver
    config_path: Path
    clock: FrozenClock

    def send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.receiver.host, self.receiver.port, timeout=10) as client:
            client.send_message(msg)

    def cycle(self) -> dict[str, Any]:
        return run_cycle(self.app)

    def acknowledged(self) -> None:
        """One cycle: the CRM numbers the request, ``intake.confirm`` announces and plans it,
        and notify sends the acknowledgement with its due dates in the same cycle."""
        self.cycle()

    def ours(self) -> list[dict[str, Any]]:
        """The requests crm-bridge created in 1C (they carry its correlation key)."""
        return [d for d in self.emulator.records(DOC) if str(d.get("ИдентификаторВнешний") or "").startswith("crm-bridge:")]


def mail(sender: str, subject: str, text: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@demo.example", subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def open_desk(tmp_path: Path, backend: str = EXTRA, **emulator: Any) -> Iterator[Desk]:
    """The desk on a fresh emulator; `backend`: the 1C backend's further lines (what it
    creates in 1C), `emulator`: the emulator's switches."""
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)  # the emulator's clock: naive Moscow time
    with Emulator(requests=20, seed=8, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}, **emulator) as emu, SmtpSink() as sink:
        text = demo_config(emu.base_url, tmp_path / "s.db", smtp=(sink.host, sink.port)) + backend + INTAKE
        path = tmp_path / "crm-bridge.yaml"
        path.write_text(text, encoding="utf-8")
        clock = FrozenClock(datetime.now(UTC))
        app = App.from_text(text, file=str(path), clock=clock)
        app.upgrade_db()
        app.run_job("sync.pull")
        with SmtpReceiver(app.store, app.config.section("intake").smtp) as receiver:
            yield Desk(app, emu, sink, receiver, path, clock)
        app.close()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with open_desk(tmp_path) as opened:
        yield opened
