"""A client killed between its request's headers and its body (urllib3 sends the body
apart): the web server in front of 1C drops the incomplete request, nothing is written.
The emulator applied it as an empty PATCH — DataVersion bumped, no value changed — which
a crash test read as the killed client's write having landed (and then as a double write)."""

from __future__ import annotations

import socket
import time
from base64 import b64encode
from urllib.parse import quote, urlsplit

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator

DOC = "Document_Интерес"


def _headers_only(base_url: str, path: str, declared: int) -> None:
    """Send a PATCH's headers declaring `declared` bytes of body, then close without it."""
    parts = urlsplit(base_url)
    login = b64encode(f"{DEMO_LOGIN}:{DEMO_PASSWORD}".encode()).decode()
    head = (f"PATCH {parts.path}{quote(path, safe='/()$=?&')} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Basic {login}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
        conn.sendall(head.encode("ascii"))


def test_a_patch_whose_body_never_came_changes_nothing() -> None:
    with Emulator(requests=3, seed=3, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        doc = emu.records(DOC)[0]
        ref, version = doc["Ref_Key"], doc["DataVersion"]
        before = dict(doc)
        _headers_only(emu.base_url, f"{DOC}(guid'{ref}')?$format=json", declared=40)
        time.sleep(0.3)  # the emulator's thread sees the connection closed
        after = next(d for d in emu.records(DOC) if d["Ref_Key"] == ref)
        assert after["DataVersion"] == version
        assert after == before
