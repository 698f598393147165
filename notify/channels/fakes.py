"""Local servers that behave as the channels' documented APIs: the tests' and the demo's.

* ``FakeSmsRu`` — ``POST /sms/send`` as SMS.ru answers it with ``json=1``: a wrong
  ``api_id`` → request-level 200; ``account_code`` (e.g. 201, no money) → that code for
  the request; ``codes[number]`` (202 invalid number, 207 no route, …) → that code for
  the number; otherwise 100 and an ``sms_id``;
* ``FakeTelegram`` — ``POST /bot<token>/sendMessage``: a wrong token → 401
  "Unauthorized"; a chat in ``blocked`` → 403 "Forbidden: bot was blocked by the user";
  a chat not in ``chats`` (when given) → 400 "Bad Request: chat not found"; a tag
  Telegram's HTML does not allow → 400 "can't parse entities"; ``flood`` (seconds) → 429
  with ``parameters.retry_after``;
* ``WebhookReceiver`` — verifies ``X-CRM-Bridge-Signature`` (401 when it does not) and
  keeps what it accepted; ``answers`` queues statuses to answer instead of 200.

Each also takes ``http_errors``: HTTP statuses answered (bodiless) before anything else,
and ``stall``: seconds to keep the next requests waiting after reading them (a client's
read timeout: the request arrived, is acted on, but the answer comes too late).

Example::

    with FakeTelegram(token="123:abc", blocked={"42"}) as tg:
        config = {"token": "123:abc", "base_url": tg.url}
        ...
        tg.sent[0]["text"]
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from notify.channels.webhook import SIGNATURE, verify

__all__ = ["FakeSmsRu", "FakeTelegram", "WebhookReceiver"]

Answer = tuple[int, dict[str, str], bytes]
_TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
                  "blockquote", "tg-emoji"}


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body, ensure_ascii=False).encode()


class _Loopback:
    """A ThreadingHTTPServer on 127.0.0.1, a free port; subclasses answer POSTs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.http_errors: list[int] = []
        self.stall: list[float] = []
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    owner.requests += 1
                    status, headers, out = (owner.http_errors.pop(0), {}, b"") if owner.http_errors else \
                        owner.answer(self.path, dict(self.headers.items()), body)
                    wait = owner.stall.pop(0) if owner.stall else 0.0
                if wait:
                    time.sleep(wait)  # acted on, answered too late
                with contextlib.suppress(OSError):  # the client gave up waiting
                    self._reply(status, headers, out)

            def _reply(self, status: int, headers: dict[str, str], out: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)  # a quick shutdown

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    def __enter__(self) -> _Loopback:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeSmsRu(_Loopback):
    def __init__(self, api_id: str = "test-api-id", *, codes: dict[str, int] | None = None) -> None:
        super().__init__()
        self.api_id = api_id
        self.codes = dict(codes or {})
        self.account_code: int | None = None
        self.sent: list[dict[str, str]] = []
        self.balance = 100.0

    def __enter__(self) -> FakeSmsRu:
        super().__enter__()
        return self

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.split("?")[0] != "/sms/send":
            return 404, {}, b"not found"
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("api_id") != self.api_id:
            return _json(200, {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"})
        if self.account_code is not None:
            return _json(200, {"status": "ERROR", "status_code": self.account_code, "status_text": "Ошибка"})
        if not form.get("msg"):
            return _json(200, {"status": "ERROR", "status_code": 203, "status_text": "Нет текста сообщения"})
        numbers: dict[str, dict[str, Any]] = {}
        for number in form.get("to", "").split(","):
            code = self.codes.get(number, 100 if re.fullmatch(r"[0-9]{10,15}", number) else 202)
            if code == 100:
                self.sent.append({"to": number, "msg": form["msg"], "from": form.get("from", "")})
                numbers[number] = {"status": "OK", "status_code": 100, "sms_id": f"000000-{len(self.sent):08d}"}
            else:
                numbers[number] = {"status": "ERROR", "status_code": code, "status_text": f"Ошибка {code}"}
        return _json(200, {"status": "OK", "status_code": 100, "sms": numbers, "balance": self.balance})


class FakeTelegram(_Loopback):
    def __init__(self, token: str = "123456:TEST-token", *, chats: set[str] | None = None,
                 blocked: set[str] | None = None) -> None:
        super().__init__()
        self.token = token
        self.chats = chats
        self.blocked = set(blocked or ())
        self.flood: list[int] = []
        self.sent: list[dict[str, Any]] = []

    def __enter__(self) -> FakeTelegram:
        super().__enter__()
        return self

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != f"/bot{self.token}/sendMessage":
            if path.endswith("/sendMessage"):
                return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if self.flood:
            wait = self.flood.pop(0)
            return _json(429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {wait}",
                               "parameters": {"retry_after": wait}})
        message = json.loads(body)
        chat = str(message.get("chat_id"))
        if chat in self.blocked:
            return _json(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
        if self.chats is not None and chat not in self.chats:
            return _json(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        if message.get("parse_mode") == "HTML":
            for tag in re.findall(r"</?([a-zA-Z-]+)", message.get("text", "")):
                if tag not in _TELEGRAM_TAGS:
                    return _json(400, {"ok": False, "error_code": 400, "description":
                                       f"Bad Request: can't parse entities: Unsupported start tag \"{tag}\""})
        self.sent.append(message)
        return _json(200, {"ok": True, "result": {"message_id": len(self.sent), "chat": {"id": chat},
                                                  "text": message.get("text")}})


class WebhookReceiver(_Loopback):
    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.secret = secret
        self.clock = clock
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.rejected = 0

    def __enter__(self) -> WebhookReceiver:
        super().__enter__()
        return self

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if not verify(self.secret, headers.get(SIGNATURE, ""), body, self.clock()):
            self.rejected += 1
            return _json(401, {"error": "bad signature"})
        if self.answers:
            status, extra = self.answers.pop(0)
            return _json(status, {"error": "not now"}, extra)
        self.received.append((headers, json.loads(body)))
        return _json(200, {"ok": True})
