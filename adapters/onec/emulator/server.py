"""HTTP transport of the emulator: stdlib ``ThreadingHTTPServer``, Basic auth, routing.

The server speaks HTTP/1.1 with keep-alive (clients reuse connections, as they do with
a real 1C behind Apache/IIS), decodes the path as percent-encoded UTF-8, checks Basic
credentials as UTF-8 (a cp1251 login fails with 401, §5), applies injected faults, and
hands the rest to :class:`.service.ODataService`, the SOAP endpoint or the control
endpoint ``/__emulator__/…``. It logs each request at DEBUG only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from .errors import ODataError
from .service import Response

__all__ = ["MAX_BODY", "EmulatorHTTPServer", "Gateway", "decode_basic"]

log = logging.getLogger(__name__)
#: largest request body accepted (bytes); 1C behind IIS/Apache has a similar limit
MAX_BODY = 64 * 1024 * 1024

#: ``gateway(method, path, query, headers, body, base) -> Response`` (path decoded)
Gateway = Callable[[str, str, str, Mapping[str, str], bytes, str], Response]



class _ClientGone(Exception):
    """The connection closed before the request's declared body arrived: a client killed
    after sending its headers (urllib3 sends the body apart). A web server in front of 1C
    drops such a request unprocessed; applied as an empty PATCH it bumped DataVersion with
    no value changed, which looked like a write of the killed client's values."""

class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading server that can close its idle keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log at DEBUG instead of printing a traceback to stderr (quiet by default)."""
        log.debug("connection from %s failed", client_address, exc_info=True,
                  extra={"event": "onec.emulator.connection"})

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive sockets so they exit."""
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache/2.4 (1C:Enterprise 8.3 emulator)"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are dropped after two minutes
    # Headers and body leave in separate writes; with Nagle on, each keep-alive answer
    # waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_MERGE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args,
                      extra={"event": "onec.emulator.request"})

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _ClientGone:
            self.close_connection = True  # an incomplete request is never processed, as IIS or Apache drop it
            return
        except ValueError as exc:
            self.close_connection = True  # the framing is unknown: do not read on
            self._send(Response(413 if "large" in str(exc) else 400, ODataError(
                400, "2", f"Неверный формат запроса: {exc}").json_body()))
            return
        raw_path, _, query = _raw_utf8(self.path).partition("?")
        try:
            path = unquote(raw_path, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            response = Response(400, ODataError(400, "6", "Неверная кодировка адреса").json_body())
        else:
            bound_host, bound_port = self.server.server_address[:2]
            host = self.headers.get("Host") or f"{bound_host!s}:{bound_port}"
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                response = self.server.gateway(self.command, path, query, headers, body,
                                               f"http://{host}")
            except Exception:
                log.exception("emulator failed on %s %s", self.command, self.path,
                              extra={"event": "onec.emulator.crash"})
                response = Response(500, ODataError(500, "-1", "Внутренняя ошибка эмулятора")
                                    .json_body())
        self._send(response)

    def _read_body(self) -> bytes:
        """The request body; over ``MAX_BODY`` or malformed framing raises ValueError."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:
            raise _ClientGone  # the client closed before its whole body came (killed between headers and body)
        return body

    def _send(self, response: Response) -> None:
        if response.headers.get("X-Emulator-Drop") == "1":
            self.close_connection = True  # fault: close without answering
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        body = response.body
        truncate = response.headers.get("X-Emulator-Truncate")
        length = len(body)
        if truncate is not None:
            body = body[: int(truncate)]
            self.close_connection = True
        self.send_header("Content-Length", str(length))
        if response.status < 300 and response.content_type.startswith("application/json"):
            self.send_header("DataServiceVersion", "3.0")
        for name, value in response.headers.items():
            if name.startswith("X-Emulator-"):
                continue
            # 1C sends raw UTF-8 in headers such as Location (§4): bypass latin-1 encoding
            buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
            buffer.append(f"{name}: {value}\r\n".encode())
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


def _raw_utf8(text: str) -> str:
    """http.server reads the request line as latin-1; undo that for raw UTF-8 (curl)."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def decode_basic(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic …`` → (login, password) as UTF-8, or None when unusable."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        login, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode(
            "utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (login, password) if sep else None

