"""A real SMTP server on loopback for the notify tests, and local servers that answer as
SMS.ru, the Telegram Bot API and a webhook receiver (``servers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_fixtures import NOW

from notify.channels.fakes import FakeSmsRu, FakeTelegram, WebhookReceiver
from notify.sink import SmtpSink

TOKEN = "123456:AAF-secret-bot-token"
SECRET = "whsec-0123456789abcdef"
CHAT, PHONE = "-1001234567890", "79991234567"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def servers() -> Iterator[tuple[FakeSmsRu, FakeTelegram, WebhookReceiver]]:
    with FakeSmsRu("sms-api-id") as sms, FakeTelegram(TOKEN, chats={CHAT, "-42"}, blocked={"-42"}) as tg, \
            WebhookReceiver(SECRET, clock=NOW.timestamp) as hook:
        yield sms, tg, hook
