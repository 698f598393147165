"""The Helpline fixture drops a PUT whose body never came (its client killed between the
headers and the body), as a real server does: before, it read the missing body as ``{}``
and, PUT replacing the record, wiped every field (the REST crash test saw a note lost)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from adapters.generic_rest.fixtures.helpline import Helpline


def test_a_put_whose_body_never_came_wipes_nothing() -> None:
    with Helpline(tickets=3, key="k") as server:
        before = dict(server.tickets[1])
        parts = urlsplit(server.url)
        head = (f"PUT {parts.path}/tickets/1 HTTP/1.1\r\nHost: {parts.netloc}\r\nX-Api-Key: k\r\n"
                "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n")
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
            conn.sendall(head.encode("ascii"))
        time.sleep(0.3)
        assert server.tickets[1] == before
        assert server.tickets[1]["note"] == "internal note 1"
