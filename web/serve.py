"""Run the web application under uvicorn: in the foreground (``crm-bridge web``) or on a
thread beside the scheduler (``crm-bridge run --web PORT``).

The listening socket is bound here, before uvicorn starts, so port 0 works (tests, the
demo) and the caller knows the address at once. Example::

    with WebServer(app, "127.0.0.1", 0) as web:
        requests.get(f"{web.url}/healthz")
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import uvicorn

from crm_bridge.app import App
from web.server import create_app

__all__ = ["WebServer", "serve_background"]


class WebServer:
    """uvicorn serving `bridge` on `host`:`port` (0: any free port)."""

    def __init__(self, bridge: App, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = host, int(self.socket.getsockname()[1])
        config = uvicorn.Config(create_app(bridge), log_level="warning", access_log=False, lifespan="off",
                                server_header=False)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve in this thread until Ctrl-C (uvicorn's own signal handling)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> WebServer:
        """Serve from a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                        name="crm-bridge-web", daemon=True)
        self._thread.start()
        started = threading.Event()
        while not self.server.started and self._thread.is_alive():
            started.wait(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def serve_background(bridge: App, port: int) -> WebServer:
    """The ``web.server`` component ``crm-bridge run --web PORT`` starts: on ``web.host``."""
    return WebServer(bridge, bridge.config.section("web").host, port).start()
