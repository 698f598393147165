"""A client for the 1C standard OData interface (``…/odata/standard.odata/``).

One ``requests.Session`` per backend, connect and read timeouts on every call, Basic auth
sent as UTF-8 (1C and IIS refuse cp1251/latin-1), Cyrillic names percent-encoded as UTF-8,
``$format=json`` always, spaces as ``%20`` (with ``+`` 1C silently ignores ``$filter``),
and filter literals built by functions that quote them — user input is never pasted into
a filter.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from adapters.onec.answer import acknowledged, decoded, record_of
from adapters.onec.deadline import bounded_exchange, watch_session
from adapters.onec.errors import (
    OneCNotPublished,
    OneCRejected,
    OneCSilent,
    OneCUnavailable,
    error_in_body,
    raise_for_error_body,
    raise_for_response,
)
from adapters.onec.metadata import Metadata, parse_metadata
from adapters.onec.paging import NO_COUNT_CEILING, Progress
from crm_bridge.http import SettledSession
from crm_bridge.progress import expect as expect_total

__all__ = ["ODataClient", "datetime_literal", "guid_literal", "string_literal"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_SAFE = "$'(),=:/;*@"  # kept literal in query values; everything else (space!) percent-encoded


def guid_literal(value: str) -> str:
    """``guid'…'`` for a GUID; anything that is not a GUID raises ValueError."""
    return f"guid'{uuid.UUID(str(value))}'"


def string_literal(value: str) -> str:
    """``'…'`` with apostrophes doubled, as OData v3 wants."""
    return "'" + value.replace("'", "''") + "'"


def datetime_literal(value: datetime, tz: tzinfo | None = None) -> str:
    """``datetime'YYYY-MM-DDTHH:MM:SS'`` in 1C's wall time (1C dates carry no zone): an
    aware `value` is converted to `tz`, the backend's zone; a naive one is taken as
    already 1C's wall time. An aware value without `tz` raises ValueError."""
    if value.tzinfo is not None:
        if tz is None:
            msg = f"{value.isoformat()} is aware: give the backend's time zone to write it as 1C's wall time"
            raise ValueError(msg)
        value = value.astimezone(tz)
    return f"datetime'{value.replace(microsecond=0, tzinfo=None).isoformat()}'"


def _query(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in params.items())


#: IIS refuses a query string over 2,048 bytes by default (``maxQueryString``, answering
#: 404.15); Apache a request line over 8,190. Key lookups are cut to stay under the limit.
MAX_QUERY_STRING = 2048


def _options(select: Sequence[str], filter: str | None, orderby: str | None,  # noqa: A002 - the OData name
             top: int | None, skip: int | None) -> dict[str, str]:
    """The system query options of one ``GET <set>``, in the order they are sent."""
    given = {"$select": ",".join(select) if select else None, "$filter": filter, "$orderby": orderby,
             "$top": None if top is None else str(top), "$skip": None if skip is None else str(skip)}
    return {name: value for name, value in given.items() if value}


def _keyset(after: str | None, start: str | None, before: str | None) -> str | None:
    """The ``$filter`` of one keyset page: after the last key read, inside ``[start, before)``.
    The start stays beside a cursor: one kept from slices cut otherwise before must not
    lead a slice into the one below it."""
    conds = [f"Ref_Key gt {guid_literal(after)}"] if after else []
    if start:
        conds.append(f"Ref_Key ge {guid_literal(start)}")
    if before:
        conds.append(f"Ref_Key lt {guid_literal(before)}")
    return " and ".join(conds) or None


_OR = quote(" or ", safe=_SAFE)
_NAME = re.compile(r"^[\w]+$")


def _entity_path(entity_set: str, key: str | None = None) -> str:
    if not _NAME.match(entity_set):
        msg = f"not a 1C entity-set name: {entity_set!r}"
        raise ValueError(msg)
    path = quote(entity_set, safe="")
    return path if key is None else f"{path}({quote(guid_literal(key), safe=_SAFE)})"


class ODataClient:
    """Reads and writes one 1C publication."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        username: str,
        password: str,
        timeout: tuple[float, float] = (5.0, 60.0),
        session: requests.Session | None = None,
        read_retries: int = 3,
        max_retry_wait: float = 30.0,
        max_query_string: int = MAX_QUERY_STRING,
        total_timeout: float = 300.0,
        max_answer_bytes: int = 64 << 20,
        retry_silence: bool = True,
        connections: int = 10,
    ) -> None:
        self.name = name
        # the whole exchange, request to last byte (``timeout.total``), and the largest
        # body read (``max_answer_mb``): see ``answer.read_body``
        self.total_timeout, self.max_answer_bytes = total_timeout, max_answer_bytes
        self.max_query_string = max_query_string
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.read_retries, self.max_retry_wait = read_retries, max_retry_wait
        # False for a person waiting (``crm_bridge.interactive``): a silent server is said at once
        self.retry_silence = retry_silence
        self._silent: OneCSilent | None = None  # (not retry_silence) what the server's silence was, said again at once
        if session is None:  # one kept-alive connection per concurrent write (the backend's max_concurrency)
            session = SettledSession()  # the environment's proxies read once, not on every call
            session.mount("http://", HTTPAdapter(pool_maxsize=connections))
            session.mount("https://", HTTPAdapter(pool_maxsize=connections))
        self.session = watch_session(session)
        # requests would encode a str login as latin-1; 1C wants UTF-8.
        self.session.auth = (username.encode("utf-8"), password.encode("utf-8"))  # type: ignore[assignment]
        self.session.headers.update({"Accept": "application/json", "User-Agent": "crm-bridge"})
        self._metadata: Metadata | None = None
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None, body: Any = None, what: str = "") -> requests.Response:
        query = {"$format": "json", **(params or {})}
        url = f"{self.base_url}{path}?{_query(query)}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else None
        return self.exchange(method, url, data=data, headers=headers, what=what or f"{method} {path}")

    def exchange(self, method: str, url: str, *, data: bytes | None = None, headers: Mapping[str, str] | None = None,
                 what: str, max_bytes: int | None = None, cap_setting: str = "max_answer_mb") -> requests.Response:
        """One HTTP exchange with all its bounds (``deadline.bounded_exchange``): the connect
        and read timeouts, the whole exchange — headers included — within
        ``total_timeout``, and at most ``max_answer_bytes`` of body (`max_bytes`,
        `cap_setting`: another cap, such as an exchange package's). The body is read
        here, whole, into ``response.content``; a non-2xx status raises the typed error."""
        if self._silent is not None:  # a person waits: a server that said nothing is not asked again
            raise OneCSilent(self._silent.once)
        self.requests_made += 1
        try:
            response = bounded_exchange(self.session, method, url, backend=self.name, what=what, timeout=self.timeout,
                                        total=self.total_timeout, data=data, headers=headers,
                                        max_bytes=self.max_answer_bytes if max_bytes is None else max_bytes,
                                        cap_setting=cap_setting)
        except OneCSilent as exc:
            if not self.retry_silence:
                self._silent = exc
            raise
        raise_for_response(self.name, response, what)
        return response

    def _read(self, path: str, params: Mapping[str, str] | None, what: str) -> Any:
        """GET and decode, retried in place on a retryable fault (reads are idempotent)."""
        return self.retrying(lambda: self._json(self._call("GET", path, params, what=what), what))

    def retrying(self, read: Callable[[], T]) -> T:
        """`read`, retried in place on ``OneCUnavailable``: ``read_retries`` more attempts,
        waiting as 1C asks (Retry-After) or 0.5 s, 1 s, 2 s…, never more than
        ``max_retry_wait`` seconds at a time; then the fault goes to the caller, whose job
        is retried on the next run from its checkpoint. When 1C asks for a longer pause
        than that, the fault goes to the caller at once: asking again sooner than told
        only adds load to a throttled server.
        """
        for attempt in range(self.read_retries + 1):
            try:
                return read()
            except OneCUnavailable as exc:
                if attempt == self.read_retries or (exc.retry_after or 0.0) > self.max_retry_wait:
                    raise
                if isinstance(exc, OneCSilent) and not self.retry_silence:
                    raise  # a person waits: a server that said nothing is told now, not after three more waits
                wait = min(max(exc.retry_after or 0.0, 0.5 * 2**attempt), self.max_retry_wait)
                # at the default level: a retry is a wait the person (or the log reader) should see
                log.warning("%s; retrying in %.1fs (attempt %d of %d)", exc.once, wait, attempt + 2,
                            self.read_retries + 1, extra={"event": "onec.read.retry", "backend": self.name})
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: requests.Response, what: str) -> Any:
        """The JSON of a read's answer; an ``odata.error`` or a page in it raises (``answer.decoded``)."""
        return decoded(self.name, what, response.status_code, response.content, lenient=True)

    def metadata(self, *, refresh: bool = False) -> Metadata:
        """``$metadata``, fetched once per client (it can be megabytes on a real base),
        retried in place like any read (the first call after idle meets a cold 1C)."""
        if self._metadata is None or refresh:
            self._metadata = self.retrying(self._fetch_metadata)
        return self._metadata

    def _fetch_metadata(self) -> Metadata:
        try:
            response = self.exchange("GET", f"{self.base_url}$metadata", what="GET $metadata")
        except OneCNotPublished as exc:  # no OData here at all, not one object missing from it
            raise OneCNotPublished(
                f"{self.name}: GET $metadata: {self.base_url} serves no OData interface (HTTP 404); check that url ends "
                "in /<publication>/odata/standard.odata/ and that the web publication of the base has «Публиковать "
                "стандартный интерфейс OData» ticked (Конфигуратор → Администрирование → Публикация на веб-сервере)",
                code=exc.code, status=exc.status) from exc
        found = error_in_body(response.content)  # a 200 over 1C's error: its text, not "not valid XML"
        if found is not None:
            raise_for_error_body(self.name, "GET $metadata", response.status_code, *found)
        return parse_metadata(response.content, backend=self.name)

    def query(
        self,
        entity_set: str,
        *,
        select: Sequence[str] = (),
        filter: str | None = None,  # noqa: A002 - the OData name
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
    ) -> list[dict[str, Any]]:
        """One ``GET <set>`` with the given query options; returns the ``value`` rows."""
        what = f"GET {entity_set}"
        body = self._read(_entity_path(entity_set), _options(select, filter, orderby, top, skip), what)
        rows = body.get("value") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise OneCUnavailable(f"{self.name}: {what}: the answer has no 'value' list; will retry")
        return rows

    def count(self, entity_set: str, *, filter: str | None = None) -> int:  # noqa: A002 - the OData name
        """How many records the set holds (that meet `filter`): ``$inlinecount=allpages`` with
        ``$top=0`` (1C answers ``"odata.count"`` as a string). ``$select=Ref_Key`` keeps the
        answer small should a 1C ignore ``$top`` next to ``$inlinecount``, as one source claims."""
        total = self._counted(entity_set, filter)
        if total is None:
            raise OneCUnavailable(f"{self.name}: GET {entity_set} (count): the answer has no 'odata.count'; will retry")
        return total

    def _counted(self, entity_set: str, filter: str | None) -> int | None:  # noqa: A002 - the OData name
        """``count``'s number, or None when 1C's answer holds none."""
        params = {**_options(["Ref_Key"], filter, None, 0, None), "$inlinecount": "allpages"}
        body = self._read(_entity_path(entity_set), params, f"GET {entity_set} (count)")
        raw = body.get("odata.count") if isinstance(body, dict) else None
        try:
            return int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    def key_at(self, entity_set: str, position: int, *, after: str | None = None) -> str | None:
        """The ``Ref_Key`` at `position` (from 0) in 1C's own key order, counted from the
        first key after `after` (1C compares them: whatever its order, the answer comes
        after `after` in it); None past the end."""
        rows = self.query(entity_set, select=["Ref_Key"], filter=_keyset(after, None, None), orderby="Ref_Key",
                          top=1, skip=position)
        return str(rows[0]["Ref_Key"]) if rows else None

    def query_string_length(self, entity_set: str, select: Sequence[str], page_size: int) -> int:
        """Bytes of the query string of the longest keyset page ``pages`` asks for (inside a
        key range, after a key): what a web server's limit is measured against."""
        _entity_path(entity_set)
        key = str(uuid.UUID(int=0))
        return len(_query({"$format": "json", **_options(select, _keyset(key, key, key), "Ref_Key", page_size, None)}))

    def pages(
        self,
        entity_set: str,
        *,
        select: Sequence[str] = (),
        after: str | None = None,
        page_size: int = 1000,
        start: str | None = None,
        before: str | None = None,
        where: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every record, ``page_size`` at a time, by ascending ``Ref_Key`` (keyset paging:
        each page costs the same however deep the scan, and a resumed scan starts after
        the last stored key).

        ``start`` (inclusive) and ``before`` (exclusive) bound the key range, so several
        workers can scan disjoint slices of one entity set; ``after`` (exclusive) is the
        resume point inside that range. ``where``: a ``$filter`` every record read must also
        meet (built with the literal functions above, never from user text).

        Every page must move on, or the pass stops with ``OneCNoProgress``: no key of a
        page may be one read on the page before or on the first page of the pass (a
        server ignoring ``$filter`` answers the first page again, a stuck one the same
        page), and a pass reads no more records than ``ceiling`` allows (``_ceiling``:
        from 1C's count of the set, asked once when a second page is needed).
        """
        progress = Progress(self.name, entity_set)
        while True:
            keyset = _keyset(after, start, before)
            both = f"({where}) and {keyset}" if where and keyset else where or keyset
            rows = self.query(entity_set, select=select, filter=both, orderby="Ref_Key", top=page_size)
            if not rows:
                return
            progress.page([str(r.get("Ref_Key")) for r in rows])
            yield rows
            if len(rows) < page_size:
                return
            if progress.ceiling is None:
                progress.ceiling = self._ceiling(entity_set, where, page_size)
            after = str(rows[-1]["Ref_Key"])

    def _ceiling(self, entity_set: str, where: str | None, page_size: int) -> tuple[int, str]:
        """The most records one pass over `entity_set` may read, and why: twice 1C's count
        plus two pages (records created during the pass are read too). A 1C that offers
        no count (refused as not published or not allowed) gets a generous fixed ceiling."""
        try:
            total = self._counted(entity_set, where)
        except OneCRejected as exc:  # refused: $inlinecount not allowed or not offered
            total, why = None, exc.once
        else:
            why = "the answer held no odata.count"
        if total is None:
            log.info("%s: %s gives no count (%s); a pass stops after %d records", self.name, entity_set, why,
                     NO_COUNT_CEILING, extra={"event": "onec.read.no_count", "backend": self.name})
            return NO_COUNT_CEILING, "1C gave no count of the set, so the ceiling is the fixed one"
        expect_total((self.name, entity_set), total)  # an import's progress bar gains its total and ETA
        return 2 * total + 2 * page_size, f"1C counts {total} records in the set"

    def by_keys(self, entity_set: str, keys: Sequence[str], *, select: Sequence[str] = (), batch: int = 40) -> list[dict[str, Any]]:
        """Records with the given ``Ref_Key`` values: at most ``batch`` keys per request,
        and never more than fit in ``max_query_string`` bytes of encoded query string.

        1C's OData has no ``in``; keys are joined with ``or`` (each one a checked GUID
        literal). A long ``$select`` of Cyrillic names (6 bytes a letter, encoded) leaves
        room for fewer keys: IIS answers a longer query string with 404.15.
        """
        return self.any_of(entity_set, [f"Ref_Key eq {guid_literal(key)}" for key in keys], select=select, batch=batch)

    def any_of(self, entity_set: str, clauses: Sequence[str], *, select: Sequence[str] = (),
               batch: int = 40) -> list[dict[str, Any]]:
        """Records matching any of `clauses` (``Field eq 'value'``), joined with ``or``: at
        most ``batch`` clauses a request, and never more than fit in ``max_query_string``
        bytes of encoded query string (IIS answers a longer one with 404.15)."""
        fixed = len(_query({"$format": "json", **_options(select, None, None, None, None), "$filter": ""}))
        rows: list[dict[str, Any]] = []
        chunk: list[str] = []
        size = fixed
        for text in clauses:
            clause = quote(text, safe=_SAFE)
            grown = size + len(clause) + (len(_OR) if chunk else 0)
            if chunk and (len(chunk) == batch or grown > self.max_query_string):
                rows += self.query(entity_set, select=select, filter=" or ".join(chunk))
                chunk, grown = [], fixed + len(clause)
            chunk.append(text)
            size = grown
        if chunk:
            rows += self.query(entity_set, select=select, filter=" or ".join(chunk))
        return rows

    def get(self, entity_set: str, key: str, *, select: Sequence[str] = ()) -> dict[str, Any]:
        params = {"$select": ",".join(select)} if select else None
        what = f"GET {entity_set}({key})"
        body: dict[str, Any] = self._read(_entity_path(entity_set, key), params, what)
        return body

    def patch(self, entity_set: str, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH one record; returns the record as 1C stored it (with its new DataVersion)."""
        what = f"PATCH {entity_set}({key})"
        response = self._call("PATCH", _entity_path(entity_set, key), body=dict(values), what=what)
        return record_of(self.name, what, response.status_code, response.content, key=key)

    def delete(self, entity_set: str, key: str) -> None:
        """DELETE one record. For catalogs and documents this is a physical delete in 1C
        (rights permitting); integrators usually set ``DeletionMark`` with ``patch`` instead."""
        what = f"DELETE {entity_set}({key})"
        response = self._call("DELETE", _entity_path(entity_set, key), what=what)
        acknowledged(self.name, what, response.status_code, response.content)

    def post_document(self, entity_set: str, key: str, *, operational: bool = False) -> None:
        """Post a document (``…/Post?PostingModeOperational=false``): operational mode fails
        for back-dated documents, so it is off unless asked for. A 1C posting error
        (handler refusal) raises ``OneCBusinessError``."""
        params = {"PostingModeOperational": "true" if operational else "false"}
        what = f"Post {entity_set}({key})"
        response = self._call("POST", f"{_entity_path(entity_set, key)}/Post", params, what=what)
        acknowledged(self.name, what, response.status_code, response.content)

    def unpost_document(self, entity_set: str, key: str) -> None:
        """Cancel a document's posting (``…/Unpost``)."""
        what = f"Unpost {entity_set}({key})"
        response = self._call("POST", f"{_entity_path(entity_set, key)}/Unpost", what=what)
        acknowledged(self.name, what, response.status_code, response.content)

    def post(self, entity_set: str, values: Mapping[str, Any]) -> dict[str, Any]:
        what = f"POST {entity_set}"
        response = self._call("POST", _entity_path(entity_set), body=dict(values), what=what)
        return record_of(self.name, what, response.status_code, response.content)
