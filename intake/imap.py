"""Reading a mailbox over IMAP (stdlib ``imaplib``): store first, then mark.

Each unread message (``UNSEEN``; with ``processed_folder``, every message left in the
folder) is fetched with ``BODY.PEEK[]`` (reading does not mark it), committed to the
inbox, and only then moved to ``processed_folder`` (``UID MOVE``, else COPY + ``\\Deleted``
+ EXPUNGE) or flagged ``\\Seen``. A crash between the two leaves it unread in the
mailbox: the next poll fetches it again and the inbox's unique Message-ID stores
nothing twice. ``wait`` uses IMAP IDLE (RFC 2177) where the server offers it, so new
mail is read within seconds; elsewhere the caller polls.

Example::

    with ImapMailbox(config.imap) as box:
        fetched = box.poll(app.store)          # messages newly stored
        box.wait(timeout=300)                  # IDLE until the server says EXISTS
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import select
import ssl
import time

from crm_bridge.errors import RemoteUnavailable
from crm_bridge.store.engine import Store
from intake.inbox import store_message
from intake.settings import ImapMailbox as ImapSettings

__all__ = ["ImapMailbox"]

log = logging.getLogger(__name__)


class ImapMailbox:
    """One IMAP connection to the configured folder (a context manager)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.conn: imaplib.IMAP4 | None = None

    def __enter__(self) -> ImapMailbox:
        s = self.settings
        try:
            if s.tls:
                self.conn = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=ssl.create_default_context(), timeout=s.timeout)
            else:
                self.conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
            self.conn.login(s.username, s.password.get_secret_value())
            status, _ = self.conn.select(_quoted(s.folder))
        except (OSError, imaplib.IMAP4.error) as exc:
            self.__exit__()
            raise RemoteUnavailable(f"IMAP {s.host}:{s.port}: {type(exc).__name__}: {exc}; will retry") from exc
        if status != "OK":
            self.__exit__()
            msg = f"IMAP {s.host}: no folder {s.folder!r}; name an existing one in intake.imap.folder"
            raise RemoteUnavailable(msg)
        return self

    def __exit__(self, *_: object) -> None:
        if self.conn is not None:
            try:
                self.conn.logout()
            except (OSError, imaplib.IMAP4.error):  # the connection is gone: close our end of it
                with contextlib.suppress(OSError):
                    self.conn.shutdown()
            self.conn = None

    @property
    def _c(self) -> imaplib.IMAP4:
        if self.conn is None:
            msg = "ImapMailbox is used outside its `with` block"
            raise RuntimeError(msg)
        return self.conn

    def poll(self, store: Store) -> int:
        """Store every waiting message, then mark it; returns how many were new to the inbox."""
        c = self._c
        try:
            criteria = "ALL" if self.settings.processed_folder else "UNSEEN"
            status, data = c.uid("SEARCH", None, criteria)  # type: ignore[arg-type]
            if status != "OK":
                return 0
            new = 0
            for uid in (data[0] or b"").split():
                status, parts = c.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if status != "OK" or raw is None:
                    continue
                new += store_message(store, raw, via="imap").new  # committed: now it may be marked
                self._mark(uid.decode())
            if self.settings.processed_folder and new:
                c.expunge()
            return new
        except (OSError, imaplib.IMAP4.error) as exc:
            raise RemoteUnavailable(f"IMAP {self.settings.host}: {type(exc).__name__}: {exc}; will retry") from exc

    def _mark(self, uid: str) -> None:
        c, target = self._c, self.settings.processed_folder
        if target is None:
            c.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            return
        if "MOVE" in c.capabilities:
            c.uid("MOVE", uid, _quoted(target))
            return
        c.uid("COPY", uid, _quoted(target))
        c.uid("STORE", uid, "+FLAGS", "(\\Deleted)")

    def can_idle(self) -> bool:
        return self.settings.idle and "IDLE" in self._c.capabilities

    def wait(self, timeout: float) -> bool:
        """IDLE until the server reports new mail or `timeout` seconds pass; True: new mail.
        Without IDLE, returns False at once (the caller sleeps and polls)."""
        if not self.can_idle():
            return False
        c = self._c
        tag = c._new_tag()  # imaplib has no IDLE before Python 3.14
        c.send(tag + b" IDLE\r\n")
        if not c.readline().startswith(b"+"):
            return False
        arrived = False
        deadline = time.monotonic() + timeout
        # select, not a socket timeout: a timed-out read leaves imaplib's file unusable
        while (remaining := deadline - time.monotonic()) > 0:
            pending = isinstance(c.sock, ssl.SSLSocket) and c.sock.pending() > 0
            if not pending and not select.select([c.sock], [], [], remaining)[0]:
                break
            line = c.readline().rstrip()
            if not line:
                break
            if line.endswith((b"EXISTS", b"RECENT")):
                arrived = True
                break
        c.send(b"DONE\r\n")
        while not c.readline().startswith(tag):  # the tagged OK that ends IDLE
            pass
        return arrived


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def intake_fetch(app: object, now: object) -> dict[str, object]:
    """The job ``intake.fetch``: one poll of the configured IMAP folder (nothing without ``intake.imap``)."""
    from crm_bridge.app import App

    assert isinstance(app, App)  # noqa: S101 - the runner's signature is shared by every job
    settings = app.config.section("intake").imap
    if settings is None:
        return {"fetched": 0}
    try:
        with ImapMailbox(settings) as box:
            return {"fetched": box.poll(app.store)}
    except RemoteUnavailable as exc:  # the mailbox is down: the rest of the cycle runs; polled again next time
        log.warning("%s", exc, extra={"event": "intake.imap.unavailable"})
        return {"fetched": 0, "error": str(exc)}
