"""A local SMTP server that keeps what it is sent: the demo's mailbox and the tests'.

Example::

    with SmtpSink() as sink:                 # 127.0.0.1, a free port
        print(sink.host, sink.port)
        sink.answers.append("451 4.7.1 greylisted, try later")   # the next DATA gets this
        ...
        sink.messages[0]["Message-ID"]
"""

from __future__ import annotations

import asyncio
import socket
import threading
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

__all__ = ["SmtpSink"]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.sink.lock:
            message = message_from_bytes(envelope.content, policy=default)
            assert isinstance(message, EmailMessage)
            if self.sink.answers:
                self.sink.refused.append(message)
                return self.sink.answers.pop(0)
            self.sink.accepted += 1
            if self.sink.keep:
                self.sink.messages.append(message)
                self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.sink.delay:  # kept, not yet acknowledged: the at-least-once window, widened
            await asyncio.sleep(self.sink.delay)
        return "250 2.0.0 OK: queued"


class SmtpSink:
    """aiosmtpd on 127.0.0.1 keeping every accepted message; ``answers`` queues the
    answers the next DATA commands get instead of 250 (a 4xx, a 5xx); ``refused`` keeps
    the messages those answers refused. ``delay``: seconds each accepted message waits,
    already kept, before its 250 (a slow server: a client killed meanwhile never learns
    the message arrived — the crash tests' window). ``keep=False`` only counts what it
    accepts (``accepted``): a benchmark's 100,000 mails in bounded memory."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, delay: float = 0.0, keep: bool = True) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.answers: list[str] = []
        self.refused: list[EmailMessage] = []
        self.delay = delay
        self.keep = keep
        self.accepted = 0
        self.lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
