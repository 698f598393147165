"""IMAP: a message is marked only after it is stored; a crash in between stores nothing twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from crm_bridge.app import App
from crm_bridge.errors import RemoteUnavailable
from intake.imap import ImapMailbox
from intake.settings import ImapMailbox as ImapSettings
from intake.tables import InboxRow
from tests.integration.intake.imap_server import ImapServer


def raw(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "ivan@romashka.ru", f"Письмо {n}", f"<imap{n}@client>"
    msg.set_content("Касса не работает")
    return msg.as_bytes()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    bridge = App.from_text(f"store: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\n")
    bridge.upgrade_db()
    yield bridge
    bridge.close()


def settings(server: ImapServer, **more: object) -> ImapSettings:
    return ImapSettings(host=server.host, port=server.port, tls=False, username="support", password=SecretStr("x"),
                        timeout=5, **more)  # type: ignore[arg-type]


def stored(app: App) -> int:
    with app.store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(InboxRow)) or 0)


def test_unseen_messages_are_stored_then_flagged_seen(app: App) -> None:
    with ImapServer() as server:
        server.deliver(raw(1))
        server.deliver(raw(2))
        with ImapMailbox(settings(server)) as box:
            assert box.poll(app.store) == 2
            assert box.poll(app.store) == 0  # flagged: not read again
        assert all("\\Seen" in m.flags for m in server.folders["INBOX"])
    assert stored(app) == 2


def test_a_connection_lost_before_the_mark_stores_nothing_twice(app: App) -> None:
    with ImapServer() as server:
        server.deliver(raw(1))
        server.fail_next = "STORE"  # stored in the inbox; the \\Seen flag never reaches the server
        with pytest.raises(RemoteUnavailable), ImapMailbox(settings(server)) as box:
            box.poll(app.store)
        assert stored(app) == 1
        assert server.folders["INBOX"][0].flags == set()
        with ImapMailbox(settings(server)) as box:
            assert box.poll(app.store) == 0  # read again, recognised by its Message-ID
        assert server.folders["INBOX"][0].flags == {"\\Seen"}
    assert stored(app) == 1


def test_processed_messages_move_to_the_processed_folder(app: App) -> None:
    with ImapServer(move=True) as server:
        server.deliver(raw(1))
        with ImapMailbox(settings(server, processed_folder="Processed")) as box:
            assert box.poll(app.store) == 1
        assert server.folders["INBOX"] == []
        assert [m.uid for m in server.folders["Processed"]] == [1]


def test_without_move_it_copies_and_expunges(app: App) -> None:
    with ImapServer(move=False) as server:
        server.deliver(raw(1))
        with ImapMailbox(settings(server, processed_folder="Processed")) as box:
            box.poll(app.store)
        assert server.folders["INBOX"] == []
        assert len(server.folders["Processed"]) == 1
        assert "UID COPY" in server.commands


def test_idle_wakes_when_mail_arrives(app: App) -> None:
    with ImapServer(idle=True) as server, ImapMailbox(settings(server)) as box:
        assert box.can_idle()
        threading.Timer(0.3, server.deliver, args=[raw(9)]).start()
        assert box.wait(timeout=10) is True
        assert box.poll(app.store) == 1
        assert box.wait(timeout=0.3) is False  # nothing new: the timeout ends IDLE


def test_a_server_without_idle_is_polled(app: App) -> None:
    with ImapServer(idle=False) as server, ImapMailbox(settings(server)) as box:
        assert box.can_idle() is False
        assert box.wait(timeout=5) is False
