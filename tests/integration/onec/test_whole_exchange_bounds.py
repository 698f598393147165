"""Every HTTP exchange with 1C is bounded as a whole (issue #20 point 3, issue #22 point 5),
against real loopback sockets that misbehave below HTTP: a server dripping its status line
and headers a byte at a time (each byte well inside ``timeout.read``) is cut at
``timeout.total`` — OData reads, ``$metadata``, the SOAP WSDL and SOAP calls alike; a SOAP
answer larger than ``max_answer_mb`` is cut off while it streams, in bounded memory; and
``crm-bridge check`` against a port that accepts and never answers says so within 15 s."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from zeep.cache import InMemoryCache

from adapters.onec.cli import demo_config
from adapters.onec.emulator.soap import default_wsdl
from adapters.onec.errors import OneCAnswerTooLarge, OneCUnavailable
from adapters.onec.odata import ODataClient
from adapters.onec.soap import SoapClient

Answer = Callable[[socket.socket, str, str, threading.Event], None]
ROOT = Path(__file__).resolve().parents[3]


class Loopback:
    """A TCP server on 127.0.0.1 that reads each request's head and body, then hands the
    socket to `answer(conn, method, path, stop)`; one thread per connection."""

    def __init__(self, answer: Answer) -> None:
        self.answer, self.stop = answer, threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        try:
            while not self.stop.is_set():  # keep-alive: request after request on one connection
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                               if k.strip().lower() == "content-length"), 0)
                while len(data) < length:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                data = data[length:]
                self.answer(conn, method, path, self.stop)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def loopback() -> Iterator[Callable[[Answer], Loopback]]:
    made: list[Loopback] = []

    def make(answer: Answer) -> Loopback:
        made.append(Loopback(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def drip_headers(conn: socket.socket, method: str, path: str, stop: threading.Event) -> None:
    """The status line and headers, a byte every 0.2 s, for as long as the client listens."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"a" * 100_000
    for i in range(len(head)):
        if stop.is_set():
            return
        conn.sendall(head[i:i + 1])
        time.sleep(0.2)


def serve_wsdl_then(answer: Answer) -> Answer:
    """The fixture WSDL on GET …?wsdl (the address it names is the one it was read from);
    every other request goes to `answer`."""
    wsdl = default_wsdl().encode("utf-8")

    def serve(conn: socket.socket, method: str, path: str, stop: threading.Event) -> None:
        if method == "GET" and path.lower().endswith("?wsdl"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: "
                         + str(len(wsdl)).encode() + b"\r\n\r\n" + wsdl)
            return
        answer(conn, method, path, stop)

    return serve


def huge_envelope(conn: socket.socket, method: str, path: str, stop: threading.Event) -> None:
    """A SOAP answer with no length announced, streamed until the client hangs up (40 MB at most)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n\r\n"
                 b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope '
                 b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>')
    filler = b"<x>" + b"y" * 65536 + b"</x>"
    for _ in range(600):
        if stop.is_set():
            return
        conn.sendall(filler)


def silent(conn: socket.socket, method: str, path: str, stop: threading.Event) -> None:
    stop.wait(60)


def odata_client(server: Loopback, *, total: float) -> ODataClient:
    return ODataClient(name="crm", base_url=f"http://127.0.0.1:{server.port}/crm/odata/standard.odata/",
                       username="u", password="p", timeout=(2.0, 1.0), total_timeout=total, read_retries=0)


class OwnCache(InMemoryCache):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._cache: dict[str, Any] = {}


def soap_client(server: Loopback, *, total: float = 30.0, max_bytes: int = 64 << 20) -> SoapClient:
    return SoapClient(name="crm-ws", wsdl=f"http://127.0.0.1:{server.port}/crm/ws/CrmExchange.1cws?wsdl",
                      username="u", password="p", timeout=(2.0, 1.0), total_timeout=total,
                      max_answer_bytes=max_bytes, cache=OwnCache())


def test_an_odata_read_whose_headers_drip_ends_at_timeout_total(loopback: Callable[[Answer], Loopback]) -> None:
    client = odata_client(loopback(drip_headers), total=1.5)
    started = time.monotonic()
    with pytest.raises(OneCUnavailable, match=r"did not finish in 1\.5 s \(timeout\.total\)"):
        client.query("Document_Интерес", top=1)
    assert 1.4 < time.monotonic() - started < 3.0  # not when the last header byte would come (hours)


def test_metadata_whose_headers_drip_ends_at_timeout_total(loopback: Callable[[Answer], Loopback]) -> None:
    client = odata_client(loopback(drip_headers), total=1.5)
    started = time.monotonic()
    with pytest.raises(OneCUnavailable, match=r"GET \$metadata: 1C's answer did not finish in 1\.5 s"):
        client.metadata()
    assert time.monotonic() - started < 3.0


def test_a_wsdl_whose_headers_drip_ends_at_timeout_total(loopback: Callable[[Answer], Loopback]) -> None:
    soap = soap_client(loopback(drip_headers), total=1.5)
    started = time.monotonic()
    with pytest.raises(OneCUnavailable, match=r"did not finish in 1\.5 s"):
        soap.operations()
    assert time.monotonic() - started < 3.0


def test_a_soap_call_whose_headers_drip_ends_at_timeout_total(loopback: Callable[[Answer], Loopback]) -> None:
    soap = soap_client(loopback(serve_wsdl_then(drip_headers)), total=1.5)
    assert "GetChangedRequests" in soap.operations()  # the WSDL came whole and in time
    started = time.monotonic()
    with pytest.raises(OneCUnavailable, match=r"did not finish in 1\.5 s"):
        soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=10)
    assert time.monotonic() - started < 3.0


def test_a_soap_answer_over_max_answer_mb_is_cut_off_while_it_streams(loopback: Callable[[Answer], Loopback]) -> None:
    soap = soap_client(loopback(serve_wsdl_then(huge_envelope)), max_bytes=1 << 20)
    soap.operations()
    tracemalloc.start()
    try:
        with pytest.raises(OneCAnswerTooLarge) as caught:
            soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    said = str(caught.value)
    assert "max_answer_mb" in said
    assert "ran past 1,048,576 bytes" in said
    assert "/crm/ws/CrmExchange.1cws" in said
    assert peak < 8 << 20  # the server had up to 40 MB to send: read no further than the cap


def run_check(config: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "1000"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "-c", str(config), "check"], capture_output=True,
                          text=True, env=env, timeout=90, check=False)
    return done, time.monotonic() - started


def test_check_against_a_port_that_accepts_and_never_answers_says_so_within_15_s(
        loopback: Callable[[Answer], Loopback], tmp_path: Path) -> None:
    server = loopback(silent)
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(f"http://127.0.0.1:{server.port}/crm/odata/standard.odata/", tmp_path / "s.db"),
                      encoding="utf-8")
    done, elapsed = run_check(config)
    said = " ".join(done.stdout.split())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "connected, but 1C did not answer in 10 s (publication overloaded or the wrong port?)" in said, said
    assert "Traceback" not in done.stdout + done.stderr
    # The same check against a closed port fails at once: what it takes is the process's own
    # start (imports; seconds on a loaded machine). The silent server costs 10 s on top, once.
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed = probe.getsockname()[1]
    config.write_text(demo_config(f"http://127.0.0.1:{closed}/crm/odata/standard.odata/", tmp_path / "s.db"),
                      encoding="utf-8")
    refused, start_up = run_check(config)
    assert refused.returncode == 1
    assert "connection refused" in " ".join(refused.stdout.split())
    assert elapsed < max(15.0, start_up + 12.0), (elapsed, start_up)
