"""The :class:`Emulator`: a seeded 1C:CRM base served over real HTTP.

Usage::

    with Emulator(requests=300, seed=1) as emu:        # port 0: a free port
        requests.get(emu.base_url + "Document_Интерес?$format=json",
                     auth=("Администратор".encode(), b"demo"))   # UTF-8 login as bytes
        emu.update("Document_Интерес", ref, {"Тема": "…"})   # a 1C user edits it

    Emulator(port=8080).serve_forever()                 # blocking; Ctrl-C stops it

The emulated base lives on Moscow wall-clock time: ``now`` (naive Moscow time, or an
aware instant converted to it) fixes the base's clock at construction, after which it
runs on with real time; without ``now`` it is the real Moscow time.
"""

from __future__ import annotations

import errno
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from .activity import UserActivity
from .control import handle_control
from .errors import ODataError, not_found, unknown_set
from .exchange import ExchangePlans
from .faults import Fault, FaultPlan
from .generator import SeedSummary, generate, guid_source
from .schema import EntitySet, Schema, default_edmx, load_schema, with_csat_fields, without_sets
from .server import EmulatorHTTPServer, decode_basic
from .service import ODataService, Response, ServiceConfig
from .soap import SERVICE as SOAP_SERVICE
from .soap import SoapService, soap_fault
from .store import Store

__all__ = ["MOSCOW", "Emulator", "PortInUse"]

log = logging.getLogger(__name__)
MOSCOW = ZoneInfo("Europe/Moscow")
NOTES = "Catalog_Заметки"  # notes about a request: this emulator's assumption (``notes``)
MAILS = "Document_ЭлектронноеПисьмоИсходящее"  # agents' letters about a request: an assumption (``mails``)
FILES = "Catalog_ИнтересПрисоединенныеФайлы"  # files attached to a request: an assumption (``files``)
_REQUESTS = "Document_Интерес"
_ODATA = "/odata/standard.odata/"
_SET_NAME = re.compile(r"^[^/(]*")


class PortInUse(RuntimeError):
    """The port asked for is taken."""


class Emulator:
    """A 1C:CRM base (seeded data + standard OData interface) on 127.0.0.1.

    Args:
        host, port: where to listen; port 0 picks a free port (see :attr:`port`).
        requests: how many ``Document_Интерес`` to generate (100..1,000,000 is fine).
        seed: makes the generated base reproducible.
        now: the base's current time; None = real Moscow time.
        users: Basic-auth logins → passwords (UTF-8; default ``Администратор``/``demo``).
        publication: the publication name in ``/<publication>/odata/standard.odata/``.
        customers: partners to generate (default requests/5, 10..50,000).
        edmx: another `$metadata` document (text or path) to emulate.
        plus_quirk: a raw ``+`` in ``$filter`` makes the filter silently ignored (1C).
        error_bom: prefix JSON error bodies with a UTF-8 BOM (seen on some 1C builds).
        allow_delete: accept DELETE of catalog items/documents (default: 400 code 19).
        ref_order: how references compare and sort in ``$filter``/``$orderby``: ``binary``
            (1C's stored form, the default), ``text`` or ``uniqueidentifier`` (SQL Server);
            another name raises ValueError.
        faults: faults active from the start (see :mod:`.faults`).
        latency: seconds added to every request.
        cold_start: seconds added to the first request only (1C session spin-up).
        metadata_delay: seconds added to every `$metadata` request (huge real EDMX).
        unpublished: entity sets left out of the publication.
        user_activity: edits per second by a simulated 1C user (0: none).
        register_existing: register every seeded object for the exchange-plan nodes, so a
            change-feed reader starts with a full load (default: only later changes).
        exchange_package_size: most objects 1C puts in one SelectChanges package.
        real_1c_atom: SelectChanges entries carry no ``m:type`` on scalars, every value
            bare text, as a real base writes them (INTERFACE.md §7a); False: typed.
        atom_tombstones: an object deleted from the base comes in SelectChanges as an
            Atom tombstone ``<at:deleted-entry ref=…>`` instead of an entry holding only
            ``Ref_Key`` and ``DeletionMark`` true.
        max_query_string: longest query string served, as IIS in front of 1C refuses a
            longer one with 404.15 (its default ``maxQueryString``); 0: no limit.
        truncate_strings: a string written longer than its attribute (``MaxLength`` in
            the EDMX) is silently cut to it, as 1C does (GATE-P8); False stores it whole.
        folders: file a third of the partners under partner folders (``IsFolder`` rows of
            ``Catalog_Партнеры``, as hierarchical catalogs hold them on real bases).
        csat_fields: ``Document_Интерес`` has ``ОценкаКлиента`` (Int16) and
            ``КомментарийОценки`` (String), where the csat addon's rating is written back
            when a mapping names them (real 1C:CRM has no such attributes; an integrator adds them).
        notes: publish ``Catalog_Заметки`` (notes about a request by ``Предмет``), an
            assumption of this emulator (see the EDMX's header); False leaves it out.
        mails: publish ``Document_ЭлектронноеПисьмоИсходящее`` (an agent's letter about a
            request by ``Предмет``: :meth:`reply` writes one as a 1C user sending it), an
            assumption (see the EDMX's header); False leaves it out.
        files: publish ``Catalog_ИнтересПрисоединенныеФайлы`` (files attached to a request
            by ``ВладелецФайла``, content in ``ФайлХранилище_Base64Data``), an assumption
            (see the EDMX's header); False leaves it out.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        requests: int = 300,
        seed: int = 1,
        now: datetime | None = None,
        users: Mapping[str, str] | None = None,
        publication: str = "crm",
        customers: int | None = None,
        edmx: str | Path | None = None,
        plus_quirk: bool = True,
        error_bom: bool = False,
        allow_delete: bool = False,
        ref_order: str = "binary",
        faults: Iterable[Fault] = (),
        latency: float = 0.0,
        cold_start: float = 0.0,
        metadata_delay: float = 0.0,
        unpublished: Iterable[str] = (),
        user_activity: float = 0.0,
        register_existing: bool = False,
        exchange_package_size: int = 1000,
        max_query_string: int = 2048,
        real_1c_atom: bool = True,
        atom_tombstones: bool = False,
        truncate_strings: bool = True,
        folders: bool = True,
        csat_fields: bool = False,
        notes: bool = True,
        mails: bool = True,
        files: bool = True,
    ) -> None:
        self.max_query_string = max_query_string
        self.host, self._wanted_port, self.publication = host, port, publication
        self.users = dict(users if users is not None else {"Администратор": "demo"})
        self._start_now = _moscow(now) if now is not None else None
        self._start_monotonic = time.monotonic()
        if csat_fields:  # the rating attributes an integrator would add (schema.CSAT_PROPERTIES)
            edmx = with_csat_fields(edmx.read_text("utf-8") if isinstance(edmx, Path) else edmx or default_edmx())
        self.schema: Schema = load_schema(edmx)
        self.store = Store(self.schema, self.clock, truncate_strings=truncate_strings)
        self.seed: SeedSummary = generate(
            self.store, requests=requests, seed=seed, now=self.clock(), customers=customers, folders=folders
        )
        self.unpublished: set[str] = set()
        self._metadata_text = self.schema.edmx_text
        self.service = ODataService(
            self.schema, self.store,
            ServiceConfig(plus_quirk=plus_quirk, error_bom=error_bom, allow_delete=allow_delete,
                          ref_order=ref_order),
            published=self.published_sets, new_key=guid_source(seed),
            metadata=lambda: self._metadata_text,
        )
        self.service.renderer.hidden = self.unpublished
        self.exchange = ExchangePlans(self.store, self.service.renderer, package_size=exchange_package_size,
                                      real_1c_atom=real_1c_atom, atom_tombstones=atom_tombstones)
        self.service.actions.update({
            "SelectChanges": self.exchange.select_changes,
            "NotifyChangesReceived": self.exchange.notify_changes_received,
        })
        if register_existing:
            self.exchange.register_all()
        self.soap = SoapService(self.store, publication)
        self.faults = FaultPlan()
        for fault in faults:
            self.faults.add(fault)
        if latency:
            self.faults.add(Fault("latency", seconds=latency))
        if cold_start:
            self.faults.add(Fault("latency", seconds=cold_start, count=1))
        if metadata_delay:
            self.faults.add(Fault("latency", entity_set="$metadata", seconds=metadata_delay))
        self.unpublish(*unpublished, *(() if notes else (NOTES,)), *(() if mails else (MAILS,)),
                       *(() if files else (FILES,)))
        self._new_key = guid_source(seed + 7919)  # keys of the letters reply() writes
        self.activity = UserActivity(self.store, seed)
        self._user_rate = user_activity
        self._counters: dict[str, dict[str, int]] = {}
        self._counters_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ clock
    def clock(self) -> datetime:
        """The base's current time: naive Moscow wall clock, like 1C stores dates."""
        if self._start_now is None:
            return datetime.now(MOSCOW).replace(tzinfo=None)
        return self._start_now + _seconds(time.monotonic() - self._start_monotonic)

    # -------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        """The bound port (meaningful once started)."""
        if self._server is None:
            raise RuntimeError("Emulator not started: call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/<publication>/odata/standard.odata/``."""
        return f"http://{self.host}:{self.port}/{self.publication}{_ODATA}"

    def _bind(self) -> EmulatorHTTPServer:
        if self._server is not None:
            raise RuntimeError("Emulator already started")
        self._stopping.clear()
        try:
            self._server = EmulatorHTTPServer((self.host, self._wanted_port), self.gateway)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(f"port {self._wanted_port} on {self.host} is in use (another emulator or service); "
                            "choose another with --port, or --port 0 for any free one") from exc
        if self._user_rate:
            self.activity.start(self._user_rate)
        log.info("1C emulator listening on %s", self.base_url,
                 extra={"event": "onec.emulator.start"})
        return self._server

    def start(self) -> Emulator:
        """Listen and serve in a daemon thread; returns self."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"onec-emulator-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C or :meth:`stop` from another thread."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            log.info("1C emulator interrupted", extra={"event": "onec.emulator.interrupt"})
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving, drop open connections and close the socket (idempotent)."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._stopping.set()  # wakes requests sleeping in an injected latency or timeout
        self.activity.stop()
        server, self._server = self._server, None
        if server is not None:
            server.close_connections()
            server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------- data access
    def published_sets(self) -> list[str]:
        hidden = frozenset(self.unpublished)
        return [name for name in self.schema.sets if name not in hidden]

    def unpublish(self, *set_names: str) -> None:
        """Leave sets out of the publication: gone from `$metadata`, their URLs 404.

        A set's tabular-section sets go with it, as they would in 1C.

        Raises:
            ODataError: a name that is not in the schema (404, like an unknown set).
        """
        with self.store.lock:
            for name in set_names:
                self._set(name)
                self.unpublished.add(name)
                self.unpublished.update(
                    s.name for s in self.schema.sets.values() if s.owner == name)
            self._metadata_text = without_sets(self.schema.edmx_text, self.unpublished)

    def publish(self, *set_names: str) -> None:
        """Put unpublished sets back (with their tabular-section sets)."""
        with self.store.lock:
            for name in set_names:
                self.unpublished.discard(name)
                self.unpublished.difference_update(
                    s.name for s in self.schema.sets.values() if s.owner == name)
            self._metadata_text = without_sets(self.schema.edmx_text, self.unpublished)

    def inject(self, kind: str, **options: Any) -> Fault:
        """Add a fault, e.g. ``emu.inject("status", status=503, method="PATCH", count=2)``."""
        return self.faults.add(Fault(kind, **options))

    def get(self, set_name: str, ref_key: str) -> dict[str, Any] | None:
        """One object JSON-shaped as the server returns it (no ``odata.metadata``)."""
        entity_set = self._set(set_name)
        with self.store.lock:
            row = self.store.lookup(set_name, ref_key)
            return None if row is None else self.service.renderer.entity(entity_set, row)

    def records(self, set_name: str) -> list[dict[str, Any]]:
        """Every object of a set, JSON-shaped, in storage order."""
        entity_set = self._set(set_name)
        with self.store.lock:
            return [self.service.renderer.entity(entity_set, row)
                    for row in self.store.rows(entity_set)]

    def update(self, set_name: str, ref_key: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change an object as a 1C user would (bumps DataVersion); returns it JSON-shaped.

        Raises:
            ODataError: unknown key (code 9) or a value 1C would refuse.
        """
        entity_set = self._set(set_name)
        with self.store.lock:
            row = self.store.patch(set_name, ref_key, changes)
            return self.service.renderer.entity(entity_set, row)

    def reply(self, request: str, text: str, *, subject: str | None = None, author: str | None = None,
              status: str = "Отправлено") -> dict[str, Any]:
        """A 1C user answers the customer from the request: an outgoing e-mail document
        (``Document_ЭлектронноеПисьмоИсходящее``) whose ``Предмет`` is the request, written
        as 1C writes it (DataVersion, change registration); returns it JSON-shaped.

        Args:
            request: the ``Document_Интерес``'s Ref_Key.
            author: the ``Catalog_Пользователи`` Ref_Key; default the request's responsible.
            status: ``Отправлено`` (sent), ``Исходящее`` (queued) or ``Черновик`` (a draft).

        Raises:
            ODataError: the request is unknown (code 9), or the set is not published.
        """
        entity_set = self._set(MAILS)
        with self.store.lock:
            if MAILS in self.unpublished:
                raise unknown_set(MAILS)
            row = self.store.lookup(_REQUESTS, request)
            if row is None:
                raise not_found()
            index = self.schema.sets[_REQUESTS].type.index
            created = self.store.create(MAILS, {
                "Тема": subject if subject is not None else f"Re: {row[index['Тема']]} [{row[index['Number']]}]",
                "Текст": text, "Автор_Key": author or row[index["Ответственный_Key"]], "СтатусПисьма": status,
                "Предмет": request, "Предмет_Type": f"StandardODATA.{_REQUESTS}"}, self._new_key())
            return self.service.renderer.entity(entity_set, created)

    def _set(self, set_name: str) -> EntitySet:
        entity_set = self.schema.sets.get(set_name)
        if entity_set is None:
            raise unknown_set(set_name)
        return entity_set

    # ----------------------------------------------------------------- gateway
    def stats(self) -> dict[str, Any]:
        """HTTP requests served (control calls excluded): per method, per set, total."""
        with self._counters_lock:
            by_set = {name: dict(methods) for name, methods in self._counters.items()}
        by_method: dict[str, int] = {}
        for methods in by_set.values():
            for method, count in methods.items():
                by_method[method] = by_method.get(method, 0) + count
        return {"requests": by_method, "by_set": by_set, "total": sum(by_method.values())}

    def reset_stats(self) -> None:
        with self._counters_lock:
            self._counters.clear()

    def _count(self, method: str, entity_set: str) -> None:
        with self._counters_lock:
            methods = self._counters.setdefault(entity_set, {})
            methods[method] = methods.get(method, 0) + 1

    def gateway(self, method: str, path: str, query: str, headers: Mapping[str, str],
                body: bytes, origin: str) -> Response:
        """Route one decoded HTTP request (called by the server threads)."""
        if path.startswith("/__emulator__/"):
            return handle_control(self, method, path, body)
        root = f"/{self.publication}{_ODATA}"
        soap = self.soap.handles(path)
        if soap:
            relative, set_name = "", f"ws/{SOAP_SERVICE}"
        elif path.startswith(root) or path == root.rstrip("/"):
            relative = path[len(root):]
            set_name = _SET_NAME.match(relative).group(0)  # type: ignore[union-attr]
        else:
            self._count(method, "")
            return Response(404, b"Not Found", "text/plain;charset=utf-8")
        self._count(method, set_name)
        if self.max_query_string and len(query) > self.max_query_string:
            return _query_too_long(len(query), self.max_query_string)
        delay, fault = self.faults.take(method, set_name)
        if delay and self._stopping.wait(delay):
            return Response(503, content_type="", headers={"X-Emulator-Drop": "1"})
        if fault is not None and fault.kind in ("status", "auth", "drop"):
            if soap and fault.kind == "status":
                return _soap_fault_response(fault, soap12="soap+xml" in headers.get(
                    "content-type", ""))
            return _fault_response(fault, bom=self.service.config.error_bom)
        if not self.authorized(headers.get("authorization")):
            return _unauthorized()
        if fault is not None and fault.kind == "timeout" and self._stopping.wait(
                fault.seconds or 30.0):
            return Response(503, content_type="", headers={"X-Emulator-Drop": "1"})
        if fault is not None and fault.kind == "ignore_filter":
            query = "&".join(part for part in query.split("&") if not unquote(part).startswith("$filter="))
        if soap:
            response = self.soap.handle(method, query, headers, body, origin)
        else:
            response = self.service.handle(
                method, relative, query, body, origin + root,
                load_mode=headers.get("1c_odata_dataloadmode", "").lower() == "true")
        if fault is not None and fault.kind == "truncate":
            response.headers["X-Emulator-Truncate"] = str(len(response.body) // 2)
        elif fault is not None and fault.kind == "garble" and fault.message:
            text = fault.message.encode("utf-8")
            response.body = response.body.replace(text, b"\xff\xfe" + text[1:])
        elif fault is not None and fault.kind == "malformed":
            response = Response(200, response.body[: len(response.body) // 2]
                                + b"<html><body>502 Bad Gateway</body></html>",
                                response.content_type or "application/json;charset=utf-8")
        return response

    def authorized(self, header: str | None) -> bool:
        credentials = decode_basic(header)
        return credentials is not None and self.users.get(credentials[0]) == credentials[1]


def _soap_fault_response(fault: Fault, *, soap12: bool) -> Response:
    """On the web-service path a 500 is a SOAP Fault; other statuses come from the
    web server in front of 1C, as a plain page."""
    if fault.status == 500:
        return soap_fault(fault.error_message, soap12=soap12)
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return Response(fault.status, f"{fault.status} {fault.error_message}".encode(),
                    "text/plain;charset=utf-8", headers)


def _fault_response(fault: Fault, *, bom: bool) -> Response:
    if fault.kind == "drop":
        return Response(503, content_type="", headers={"X-Emulator-Drop": "1"})
    if fault.kind == "auth":
        return _unauthorized()
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    error = ODataError(fault.status, fault.code, fault.error_message)
    return Response(fault.status, error.json_body(bom=bom), headers=headers)


def _query_too_long(length: int, limit: int) -> Response:
    """IIS request filtering's answer to a query string over ``maxQueryString``."""
    page = (f"<!DOCTYPE html><html><head><title>IIS Detailed Error - 404.15 - Not Found</title></head><body>"
            f"<h3>HTTP Error 404.15 - Not Found</h3><h4>The request filtering module is configured to deny a request "
            f"where the query string is too long.</h4><p>Query string: {length} bytes; maxQueryString: {limit}</p>"
            f"</body></html>")
    return Response(404, page.encode("utf-8"), "text/html")


def _unauthorized() -> Response:
    error = ODataError(401, "-1", "Идентификация пользователя не выполнена")
    return Response(401, error.json_body(),
                    headers={"WWW-Authenticate": 'Basic realm="1C:Enterprise"'})


def _moscow(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(microsecond=0)
    return moment.astimezone(MOSCOW).replace(tzinfo=None, microsecond=0)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=int(value))
