"""kill -9 during delivery: a real ``crm-bridge run`` sends SLA alerts to the SMTP sink and
the fake Telegram Bot API, is killed with SIGKILL in the middle (twice: once while the sink
holds a message it has not acknowledged yet — the documented at-least-once window — and
once at a random point), restarted, and every notification arrives; a mail that arrives
twice carries the same Message-ID both times, no row is sent under two.

The SMTP sink and the fake run in the test process, so they outlive every kill. A row a
killed dispatcher had claimed is leased for ten minutes (``notify.dispatch.LEASE``); the
test lets that time pass by moving the leased rows' next attempt to now, as the lease's
expiry would, instead of waiting.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from crm_bridge.app import App
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import AgentRow, TicketRow
from notify.channels.fakes import FakeTelegram
from notify.sink import SmtpSink
from notify.tables import NotificationRow

REQUESTS = 16
CHAT = "-1001234567890"
CLI = [sys.executable, "-m", "crm_bridge"]


def config_text(tmp_path: Path, sink: SmtpSink, telegram: FakeTelegram) -> str:
    return f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
schedule: {{notify_every: 1, sla_tick_every: 3600, routing_tick_every: 3600}}
backends:                  # `run` wants one; off: this test is about notify alone
  crm: {{kind: onec_odata, url: "http://127.0.0.1:9/crm/odata/standard.odata/", username: u, password: p, enabled: false}}
notify:
  email: {{host: {sink.host}, port: {sink.port}, tls: none, from: "Поддержка <support@example.ru>"}}
  telegram: {{token: "{telegram.token}", base_url: "{telegram.url}"}}
  staff:
    breach: [assignee, "telegram:{CHAT}"]
  fold_at: null            # one message a row: many deliveries to kill between
"""


def seed(app: App) -> list[str]:
    """Open requests, each its own assignee, and a breach of each: 2 rows a request."""
    now = datetime.now(UTC)
    numbers = []
    with app.store.transaction() as s:
        for n in range(1, REQUESTS + 1):
            agent = AgentRow(name=f"Агент {n}", email=f"agent{n}@example.ru")
            s.add(agent)
            s.flush()
            ticket = TicketRow(number=f"CRM-{n:07d}", subject=f"Запрос {n}", type="other", priority="normal",
                               channel="email", source="external", status="in_progress", assignee_id=agent.id,
                               created_at=now - timedelta(days=1), tags=[])
            s.add(ticket)
            s.flush()
            numbers.append(ticket.number)
            unit = app.bus.unit(s, now, app.config)
            unit.publish(DomainEvent("sla.breach", "ticket", ticket.id, "sla", {"metric": "resolution", "cycle": 1,
                                                                                 "at": now}))
    return numbers


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    with log.open("ab") as out:
        return subprocess.Popen([*CLI, "-c", str(config), "run"], stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for(condition: Callable[[], bool], what: str, log: Path, proc: subprocess.Popen[bytes],
             timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"timed out waiting for {what}; the run printed:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def leases_run_out(app: App) -> int:
    """What ten minutes would do: rows claimed by the killed process are due again."""
    now = datetime.now(UTC)
    with app.store.transaction() as s:
        result = s.execute(update(NotificationRow).where(NotificationRow.state == "pending",
                                                         NotificationRow.next_attempt_at > now + timedelta(minutes=1))
                           .values(next_attempt_at=now))
        return int(getattr(result, "rowcount", 0) or 0)


def states(app: App) -> Counter[str]:
    with app.store.transaction() as s:
        return Counter(r.state for r in s.query(NotificationRow))


def test_every_alert_arrives_after_kill_9_and_a_mail_sent_twice_carries_one_message_id(tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("CRASH_SEED") or time.time_ns())
    with SmtpSink() as sink, FakeTelegram(chats={CHAT}) as telegram:
        config = tmp_path / "crm-bridge.yaml"
        config.write_text(config_text(tmp_path, sink, telegram), encoding="utf-8")
        log = tmp_path / "run.log"
        app = App.from_text(config.read_text(encoding="utf-8"), file=str(config))
        app.upgrade_db()
        numbers = seed(app)
        kills = [3, rng.randint(6, REQUESTS - 3)]  # mails kept by the sink when each kill lands
        for kill, kept in enumerate(kills):
            sink.delay = 0.8 if kill == 0 else 0.15  # the first kill lands while the sink holds an unacknowledged mail
            proc = start(config, log)
            try:
                wait_for(lambda kept=kept: len(sink.messages) >= kept, f"{kept} mails", log, proc)  # type: ignore[misc]
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL
            leases_run_out(app)
        proc = start(config, log)
        try:
            wait_for(lambda: states(app)["sent"] == 2 * REQUESTS, "every row sent", log, proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        with app.store.transaction() as s:
            rows = {r.message_id: r for r in s.query(NotificationRow).filter(NotificationRow.channel == "email")}
        app.close()
        ids = Counter(str(m["Message-ID"]) for m in sink.messages)
        assert set(ids) == set(rows)  # every mail arrived, under the Message-ID its row drew, none under another
        assert sum(ids.values()) - len(ids) <= len(kills)  # a duplicate only from the window a kill hit
        assert ids.most_common(1)[0][1] == 2  # the first kill's mail came again, under the same Message-ID
        for message in sink.messages:  # each copy went to its row's recipient
            assert message["To"].addresses[0].addr_spec == rows[str(message["Message-ID"])].recipient
        told = Counter(next(n for n in numbers if n in m["text"]) for m in telegram.sent)
        assert set(told) == set(numbers)  # every breach reached the chat
        assert sum(told.values()) - len(told) <= len(kills)  # Telegram has no id: a kill's window may repeat one
