"""The local SMTP receiver (aiosmtpd): mail for the support address, stored before ``250``.

The answer to DATA is given only after the message is committed to the inbox
(``intake.inbox.store_message``), so a sender that saw ``250`` can forget the message:
it is not lost. A failure to store answers ``451`` (the sender retries later); a message
over ``max_bytes`` gets ``552`` and a recipient not in ``recipients`` ``550``, before
anything is stored.

Example::

    with SmtpReceiver(app.store, config.smtp) as receiver:   # config.smtp.port 0: a free port
        smtplib.SMTP(receiver.host, receiver.port).sendmail(...)
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.controller import Controller

from crm_bridge.errors import ConfigError
from crm_bridge.store.engine import Store
from intake.inbox import store_message
from intake.settings import SmtpReceiver as SmtpSettings

__all__ = ["SmtpReceiver"]

log = logging.getLogger(__name__)


class _Handler:
    def __init__(self, store: Store, settings: SmtpSettings) -> None:
        self.store, self.settings = store, settings

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802 - aiosmtpd's hook
                          rcpt_options: list[str]) -> str:
        allowed = self.settings.recipients
        if allowed and address.lower() not in allowed:
            log.info("refused recipient %s", address, extra={"event": "intake.smtp.recipient_refused"})
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        raw: bytes = envelope.original_content or envelope.content
        if len(raw) > self.settings.max_bytes:
            return f"552 5.3.4 message is {len(raw)} bytes, over the limit of {self.settings.max_bytes}"
        try:
            stored = await asyncio.get_running_loop().run_in_executor(None, lambda: store_message(self.store, raw, via="smtp"))
        except Exception:  # the store is down or locked: the sender keeps the message and retries
            log.exception("could not store an inbound message", extra={"event": "intake.smtp.store_failed"})
            return "451 4.3.0 cannot store the message now; try again later"
        return f"250 2.0.0 OK: stored as {stored.inbox_id}"


class SmtpReceiver:
    """aiosmtpd serving `settings.host`:`settings.port` until stopped (a context manager)."""

    def __init__(self, store: Store, settings: SmtpSettings) -> None:
        self.host = settings.host
        self.port = settings.port or _free_port(settings.host)
        self._controller = Controller(_Handler(store, settings), hostname=self.host, port=self.port,
                                      data_size_limit=settings.max_bytes, decode_data=False)

    def start(self) -> SmtpReceiver:
        """Listen; a port another program holds is a ConfigError naming it."""
        try:
            self._controller.start()
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"intake.smtp: cannot listen on {self.host}:{self.port} ({exc}); another program holds "
                              "the port? set intake.smtp.port to a free one") from exc
        log.info("intake SMTP receiver on %s:%d", self.host, self.port, extra={"event": "intake.smtp.started"})
        return self

    def stop(self) -> None:
        self._controller.stop()

    close = stop  # a ``run.service`` (crm_bridge/cli/core.py) is closed when `run` ends

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
