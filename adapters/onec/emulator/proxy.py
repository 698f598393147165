"""A hostile proxy: a real HTTP server on loopback in front of the emulator (or any 1C)
that forwards every request and alters the answers chosen by rules.

What 1C does wrong is the emulator's (``faults.py``); this is what stands between the
bridge and 1C on a bad day — a reverse proxy, a WAF, a load balancer, a login portal —
and answers in 1C's name. Each :class:`Alteration` is scoped like a fault (method,
entity set as a substring of the decoded path, count; none: until removed). Kinds:

``status``        answer ``status`` with ``body`` (default: a 1C ``odata.error``)
``odata_error``   answer 200 (or ``status``) with a 1C ``odata.error`` body (``code``, ``message``)
``html``          answer 200 (or ``status``) with an HTML page titled ``message``
``empty``         answer 200 (or ``status``) with no body
``drip``          forward, then send the answer ``chunk`` bytes every ``seconds``
``inflate``       forward, then pad the answer with ``size`` bytes of JSON whitespace
``ignore_filter`` forward without ``$filter`` (as a URL rewrite turning spaces into ``+`` does)
``delay``         wait ``seconds``, then forward
``drop``          close the connection without answering

``status``, ``odata_error``, ``html`` and ``empty`` answer without asking upstream, unless
``forward`` is set: then the request reaches 1C (a write is done) and only its answer is
replaced. Example::

    with Emulator() as emu, HostileProxy(emu.base_url) as proxy:
        proxy.add("odata_error", method="PATCH", count=3, message="Ошибка записи")
        client = ODataClient(name="crm", base_url=proxy.base_url, ...)

``python -m adapters.onec.emulator.proxy --upstream URL --port 8081 --alter JSON`` runs it
standalone, as ``--fault`` does for the emulator.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["ALTERATIONS", "Alteration", "HostileProxy", "main"]

ALTERATIONS = ("status", "odata_error", "html", "empty", "drip", "inflate", "ignore_filter", "delay", "drop")
_ANSWERING = frozenset({"status", "odata_error", "html", "empty"})
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"})


@dataclass(frozen=True)
class Alteration:
    """One rule of the proxy (see the module docstring for the kinds)."""

    kind: str
    method: str | None = None  # None: any method
    entity_set: str | None = None  # a substring of the decoded path; None: any
    count: int | None = None  # None: until removed
    status: int = 200
    code: str = "-1"
    message: str = "Ошибка при выполнении операции над данными"
    body: str | None = None
    forward: bool = False
    seconds: float = 0.5
    chunk: int = 1
    size: int = 1 << 20
    id: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ALTERATIONS:
            msg = f"unknown alteration {self.kind!r}; valid: {', '.join(ALTERATIONS)}"
            raise ValueError(msg)
        if self.count is not None and self.count < 1:
            msg = "count must be at least 1 (or None for 'until removed')"
            raise ValueError(msg)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.entity_set is None or self.entity_set in path)


class HostileProxy:
    """Forwards to `upstream` (an ``http://host:port/…`` URL; only its host and port are
    used) and alters what its rules choose. ``met`` lists ``(method, path, kind)`` of every
    alteration applied, for tests to assert on."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            msg = f"upstream must be an http:// URL, not {upstream!r}"
            raise ValueError(msg)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self._upstream_path = parts.path
        self.timeout = timeout
        self.met: list[tuple[str, str, str]] = []
        self._rules: list[Alteration] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self.stopping = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The upstream URL's path, through the proxy."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._upstream_path}"

    def add(self, kind: str, **options: Any) -> Alteration:
        with self._lock:
            rule = replace(Alteration(kind, **options), id=self._next_id)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[Alteration]:
        with self._lock:
            return list(self._rules)

    def take(self, method: str, path: str) -> Alteration | None:
        """The first rule matching the request, consumed once (its count lowered)."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.matches(method, path):
                    if rule.count == 1:
                        del self._rules[index]
                    elif rule.count is not None:
                        self._rules[index] = replace(rule, count=rule.count - 1)
                    self.met.append((method, path, rule.kind))
                    return rule
        return None

    def start(self) -> HostileProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="onec-hostile-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes answers being dripped or delayed
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C."""
        try:
            self._server.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def __enter__(self) -> HostileProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: HostileProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client giving up on a dripped answer is what the proxy is for."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "hostile-proxy"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: a test's output is not the place for a proxy's access log."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._relay()

    do_POST = do_PATCH = do_PUT = do_MERGE = do_DELETE = do_HEAD = do_GET  # noqa: N815

    def _relay(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        raw_path, _, query = self.path.partition("?")
        rule = proxy.take(self.command, unquote(raw_path))
        kind = rule.kind if rule else ""
        if kind == "drop":
            self.close_connection = True
            return
        if kind == "delay" and rule is not None and proxy.stopping.wait(rule.seconds):
            return
        if rule is not None and kind in _ANSWERING and not rule.forward:
            self._answer(*_made(rule), {})
            return
        if kind == "ignore_filter":
            query = "&".join(part for part in query.split("&") if not unquote(part).startswith("$filter="))
        status, headers, content = self._forward(proxy, raw_path + (f"?{query}" if query else ""), body)
        if rule is not None and kind in _ANSWERING:
            status, content, content_type = _made(rule)
            headers = {"Content-Type": content_type}
        elif rule is not None and kind == "inflate":
            content += b" " * rule.size  # whitespace after a JSON value: still the same, valid JSON
        if rule is not None and kind == "drip":
            self._drip(status, headers, content, rule, proxy.stopping)
            return
        self._answer(status, content, headers.pop("Content-Type", ""), headers)

    def _forward(self, proxy: HostileProxy, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=proxy.timeout)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            connection.request(self.command, target, body=body or None, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP}
            return answer.status, kept, content
        finally:
            connection.close()

    def _head(self, status: int, content_type: str, headers: Mapping[str, str], length: int) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self._headers_buffer.append(f"{name}: {value}\r\n".encode())  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _answer(self, status: int, content: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        self._head(status, content_type, headers, len(content))
        if self.command != "HEAD":
            self.wfile.write(content)

    def _drip(self, status: int, headers: dict[str, str], content: bytes, rule: Alteration,
              stopping: threading.Event) -> None:
        self.close_connection = True
        self._head(status, headers.pop("Content-Type", ""), headers, len(content))
        step = max(rule.chunk, 1)
        try:
            for start in range(0, len(content), step):
                self.wfile.write(content[start:start + step])
                self.wfile.flush()
                if stopping.wait(rule.seconds):
                    return
        except OSError:  # the client gave up: what a deadline is for
            return


def _made(rule: Alteration) -> tuple[int, bytes, str]:
    """(status, body, content type) of an answer the proxy makes up."""
    if rule.kind == "html":
        page = (f"<!DOCTYPE html><html><head><title>{rule.message}</title></head>"
                f"<body><h1>{rule.message}</h1></body></html>")
        return rule.status, page.encode("utf-8"), "text/html; charset=utf-8"
    if rule.kind == "empty":
        return rule.status, b"", ""
    if rule.body is not None:
        return rule.status, rule.body.encode("utf-8"), "application/json;charset=utf-8"
    error = {"odata.error": {"code": rule.code, "message": {"lang": "ru", "value": rule.message}}}
    return rule.status, json.dumps(error, ensure_ascii=False).encode("utf-8"), "application/json;charset=utf-8"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy until Ctrl-C; prints its base URL first."""
    parser = argparse.ArgumentParser(prog="python -m adapters.onec.emulator.proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the 1C (or emulator) base URL to forward to")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--alter", action="append", default=[], metavar="JSON",
                        help='a rule, e.g. {"kind": "odata_error", "method": "PATCH", "count": 3}')
    args = parser.parse_args(argv)
    proxy = HostileProxy(args.upstream, port=args.port)
    for text in args.alter:
        try:
            proxy.add(**json.loads(text))
        except (ValueError, TypeError) as exc:
            parser.error(f"--alter {text}: {exc}")
    print(proxy.base_url, flush=True)  # noqa: T201 - how a parent process learns the port
    proxy.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
