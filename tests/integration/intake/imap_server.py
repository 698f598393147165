"""A small IMAP4rev1 server over a real socket: one folder of messages, UIDs, flags,
MOVE and IDLE — what ``intake.imap`` uses, answered as Dovecot answers it.

Example::

    with ImapServer(idle=True) as server:
        server.deliver(raw)                  # a new message: UNSEEN, and EXISTS to an IDLE client
        server.fail_next = "STORE"           # the next UID STORE drops the connection
"""

from __future__ import annotations

import re
import select
import socket
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


class ImapServer:
    def __init__(self, *, idle: bool = True, move: bool = True) -> None:
        self.folders: dict[str, list[Stored]] = {"INBOX": [], "Processed": []}
        self.next_uid = 1
        self.lock = threading.Condition()
        self.capabilities = ["IMAP4rev1", *(["IDLE"] if idle else []), *(["MOVE"] if move else [])]
        self.fail_next: str | None = None
        self.commands: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer._session(self)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[0], self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ImapServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def deliver(self, raw: bytes, folder: str = "INBOX") -> int:
        with self.lock:
            uid = self.next_uid
            self.next_uid += 1
            self.folders[folder].append(Stored(uid, raw))
            self.lock.notify_all()
            return uid

    def _session(self, h: socketserver.StreamRequestHandler) -> None:
        def say(line: str | bytes) -> None:
            h.wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")
            h.wfile.flush()

        say("* OK IMAP4rev1 ready")
        folder = "INBOX"
        while True:
            line = h.rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command = rest.split(" ")[0].upper()
            args = rest[len(command):].strip()
            if command == "UID":
                command = "UID " + args.split(" ")[0].upper()
                args = args[len(command) - 4:].strip()
            self.commands.append(command)
            if self.fail_next and command.endswith(self.fail_next):
                self.fail_next = None
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            with self.lock:
                box = self.folders[folder]
                if command == "CAPABILITY":
                    say("* CAPABILITY " + " ".join(self.capabilities))
                elif command == "LOGIN":
                    pass
                elif command == "SELECT":
                    folder = args.strip('"')
                    say(f"* {len(self.folders[folder])} EXISTS")
                elif command == "UID SEARCH":
                    wanted = [m.uid for m in box if "UNSEEN" not in args.upper() or "\\Seen" not in m.flags]
                    say("* SEARCH " + " ".join(map(str, wanted)))
                elif command == "UID FETCH":
                    uid = int(args.split(" ")[0])
                    for n, m in enumerate(box, 1):
                        if m.uid == uid:
                            say(f"* {n} FETCH (UID {uid} BODY[] {{{len(m.raw)}}}".encode() + b"\r\n" + m.raw + b")\r\n")
                elif command == "UID STORE":
                    uid = int(args.split(" ")[0])
                    for m in box:
                        if m.uid == uid:
                            m.flags |= set(re.findall(r"\\\w+", args))
                elif command in ("UID MOVE", "UID COPY"):
                    uid_text, target = args.split(" ", 1)
                    for m in list(box):
                        if m.uid == int(uid_text):
                            self.folders[target.strip('"')].append(Stored(m.uid, m.raw))
                            if command == "UID MOVE":
                                box.remove(m)
                elif command == "EXPUNGE":
                    box[:] = [m for m in box if "\\Deleted" not in m.flags]
                elif command == "IDLE":
                    say("+ idling")
                    seen = len(box)
                    while True:
                        if len(box) > seen:
                            say(f"* {len(box)} EXISTS")
                            seen = len(box)
                        if select.select([h.connection], [], [], 0)[0] and h.rfile.readline().strip().upper() == b"DONE":
                            break
                        self.lock.wait(0.05)  # lets deliver() in
                elif command == "LOGOUT":
                    say("* BYE")
                    say(f"{tag} OK LOGOUT completed")
                    return
            say(f"{tag} OK {command} completed")
