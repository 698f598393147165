"""The built-in webhook listener: ``POST /webhooks/<backend>`` → ``pings.receive``, and a
drainer that reads the pinged records again once a burst has settled.

Started by ``crm-bridge run`` when the configuration has ``webhooks: {listen: host:port}``
(the ``run.service`` registration); a web addon can mount ``pings.receive`` instead.
Stdlib ``http.server`` in daemon threads, like the metrics endpoint: no TLS here — put a
reverse proxy in front of a public address.

Example::

    server = start(app)            # None when webhooks.listen is not set
    ...                            # curl -XPOST http://127.0.0.1:8089/webhooks/helpline -d ...
    server.close()
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from adapters.generic_rest.pings import drain, receive
from crm_bridge.app import App

__all__ = ["WebhookServer", "start"]

log = logging.getLogger(__name__)


class WebhookServer:
    """The listener and its drainer; ``close`` stops both (a drain under way finishes)."""

    def __init__(self, app: App, host: str, port: int, *, settle: float = 1.0, max_body: int = 256 << 10) -> None:
        self.app, self.settle, self.max_body = app, settle, max_body
        self.drains = 0
        self._wake, self._stop = threading.Event(), threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, name="webhooks", daemon=True),
                         threading.Thread(target=self._drainer, name="webhooks-drain", daemon=True)]
        self._wake.set()  # pings kept before a restart are read at once
        for thread in self._threads:
            thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def _drainer(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(timeout=0.5):
                continue
            self._stop.wait(self.settle)  # a burst settles: its pings become one read per record
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                result = drain(self.app, self.app.clock())
            except Exception:  # the store away: keep listening; the rows wait for the next wake
                log.exception("draining webhook pings failed", extra={"event": "rest.webhook.drain_failed"})
                continue
            self.drains += 1
            if any(result.values()):
                log.info("pinged records read again: %s", result, extra={"event": "rest.webhook.drained"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # every request is logged by receive, once
                pass

            def _answer(self, status: int, reason: str) -> None:
                data = (reason + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                parts = urlsplit(self.path)
                steps = [unquote(s) for s in parts.path.split("/") if s]
                if len(steps) != 2 or steps[0] != "webhooks":
                    self._answer(404, "POST /webhooks/<backend>")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > owner.max_body:
                    self._answer(413, f"a ping is at most {owner.max_body} bytes")
                    return
                body = self.rfile.read(length)
                try:
                    status, reason = receive(owner.app, steps[1], dict(self.headers.items()), body, owner.app.clock(),
                                             query=dict(parse_qsl(parts.query)),
                                             content_type=self.headers.get("Content-Type", ""),
                                             peer=self.client_address[0])
                except Exception:  # the store away: the CRM retries a 503 (both shipped CRMs do)
                    log.exception("webhook for %s not kept", steps[1], extra={"event": "rest.webhook.failed", "backend": steps[1]})
                    status, reason = 503, "not kept; send it again later"
                self._answer(status, reason)
                if status == 202:
                    owner._wake.set()

        return Handler

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=30)


def start(app: App) -> WebhookServer | None:
    """The listener of ``webhooks.listen``, or None when it is not set (``run.service``)."""
    cfg = app.config.section("webhooks")
    if cfg.listen is None:
        return None
    server = WebhookServer(app, *cfg.address, settle=cfg.settle, max_body=cfg.max_body_kb << 10)
    host, port = server.address
    log.info("listening for webhooks on http://%s:%d/webhooks/<backend>", host, port,
             extra={"event": "rest.webhook.listening", "port": port})
    return server
