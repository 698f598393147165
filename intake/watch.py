"""Receiving mail until stopped: the SMTP receiver and the IMAP folder (IDLE, else polling).

Example::

    stop = threading.Event()
    watch(app, stop, on_ready=print)          # returns once `stop` is set
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from crm_bridge.errors import ConfigError, RemoteUnavailable
from crm_bridge.retry import backoff
from intake.imap import ImapMailbox
from intake.receiver import SmtpReceiver
from intake.settings import IntakeConfig

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["intake_service", "watch"]

log = logging.getLogger(__name__)


def watch(app: App, stop: threading.Event, *, on_ready: Callable[[str], None] | None = None, poll_every: float = 60.0) -> None:
    """Serve the configured channels until `stop` is set."""
    config: IntakeConfig = app.config.section("intake")
    if not config.enabled:
        raise ConfigError(f"{app.config.source}: intake has no channel: add `intake: {{smtp: {{port: 2525}}}}` "
                          "or an `imap:` mailbox")
    receiver = SmtpReceiver(app.store, config.smtp).start() if config.smtp else None
    where = [f"SMTP {receiver.host}:{receiver.port}"] if receiver else []
    if config.imap:
        where.append(f"IMAP {config.imap.host}/{config.imap.folder}")
    try:
        if on_ready is not None:
            on_ready(", ".join(where))
        failures = 0
        while not stop.is_set():
            if config.imap is None:
                stop.wait(1.0)
                continue
            try:
                with ImapMailbox(config.imap) as box:
                    failures = 0
                    while not stop.is_set():
                        box.poll(app.store)
                        if not box.wait(min(poll_every, 25 * 60)):  # IDLE is renewed within 29 minutes (RFC 2177)
                            stop.wait(poll_every if not box.can_idle() else 0)
            except RemoteUnavailable as exc:
                failures += 1
                log.warning("%s", exc, extra={"event": "intake.imap.unavailable"})
                stop.wait(backoff(failures, cap=300.0))
    finally:
        if receiver is not None:
            receiver.stop()


def intake_service(app: App) -> SmtpReceiver | None:
    """The ``run.service`` of intake: the SMTP receiver, beside ``crm-bridge run``'s jobs
    (which poll IMAP in ``intake.fetch`` and decide what is stored), closed when `run` ends."""
    config: IntakeConfig = app.config.section("intake")
    if config.smtp is None:
        return None
    return SmtpReceiver(app.store, config.smtp).start()
