"""Calls to a REST CRM as its connector file describes them: credentials, the rate limit,
bounded answers, the error rules, retries and re-login; and listings page by page.

``call`` returns the parsed body of a good answer or raises ``RemoteUnavailable`` (after
its retries: the caller's job or outbox tries again later) / ``RemoteRejected`` (the CRM
said no, with its own words). ``pages`` walks a resource's listing with its paginator and
refuses a server that keeps answering the same page.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import requests

from adapters.generic_rest.auth import Authenticator, MemoryTokens, TokenStore
from adapters.generic_rest.connector import (
    Connector,
    OffsetPaging,
    PagePaging,
    Resource,
    UrlTokenAuth,
)
from adapters.generic_rest.limits import TokenBucket, wait_asked
from adapters.generic_rest.paging import (
    NextPage,
    PagingStuck,
    first_page,
    next_page,
    nth_page,
    page_count,
)
from adapters.generic_rest.rules import judge
from adapters.generic_rest.select import MISSING, parse_path, select
from crm_bridge.errors import RemoteRejected, RemoteUnavailable
from crm_bridge.http import exchange
from crm_bridge.retry import backoff

__all__ = ["RestClient"]


class RestClient:
    """One backend's calls. Thread-safe as ``requests.Session`` is for these uses; the
    token bucket is shared by every thread of the backend."""

    def __init__(self, name: str, connector: Connector, *, tokens: TokenStore | None = None,
                 session: requests.Session | None = None, timeout: tuple[float, float] = (5.0, 30.0),
                 total: float = 120.0, max_bytes: int = 64 << 20, attempts: int = 4,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name, self.connector = name, connector
        self.session = session or requests.Session()
        self.timeout, self.total, self.max_bytes, self.attempts, self.sleep = timeout, total, max_bytes, attempts, sleep
        self.auth = Authenticator(connector.auth, name, self.session, tokens or MemoryTokens(), timeout=timeout[1])
        limit = connector.rate_limit
        self.bucket = TokenBucket(limit.per_second, limit.burst, sleep=sleep) if limit is not None else None
        self.base = self.auth.url(connector.base_url).rstrip("/")
        self._hide = (connector.auth.token.get_secret_value(),) if isinstance(connector.auth, UrlTokenAuth) else ()

    @property
    def hidden(self) -> tuple[str, ...]:
        """Secrets that sit in URLs (a URL token): ``crm_bridge.http.shown`` masks them."""
        return self._hide

    def url(self, path: str, **keys: str) -> str:
        """The address of `path` (``/leads/{id}``) with `keys` put in; a whole URL stays as it is."""
        for key, value in keys.items():
            path = path.replace("{" + key + "}", quote(str(value), safe=""))
        return path if path.startswith(("http://", "https://")) else f"{self.base}/{path.lstrip('/')}"

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
             what: str = "", keys: Mapping[str, str] | None = None) -> Any:
        """The parsed body of the answer (None for 204 or an ignored error).

        Raises:
            RemoteUnavailable: still failing after the retries (timeouts, 429, 5xx, a broken answer).
            RemoteRejected: the CRM refused (a 4xx, a rule's ``fail``, credentials refused twice).
        """
        return self._call(method, path, params=params, json=json, what=what, keys=keys)[0]

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any, what: str,
              keys: Mapping[str, str] | None) -> tuple[Any, Mapping[str, str]]:
        url = self.url(path, **dict(keys or {}))
        what = what or f"{method} {path}"
        relogged = False
        last = ""
        for attempt in range(self.attempts):
            if self.bucket is not None:
                self.bucket.take()
            headers = {"Accept": "application/json", **self.connector.headers}
            query = dict(params or {})
            self.auth.apply(headers, query)
            answer = exchange(self.session, method, url, backend=self.name, what=what, timeout=self.timeout,
                              total=self.total, max_bytes=self.max_bytes, params=query, json=json, headers=headers,
                              hide=self._hide)
            if answer.status == 204:
                return None, answer.headers
            verdict = judge(answer.status, answer.headers, answer.text, self.connector.errors)
            if verdict.action == "ok":
                return verdict.body, answer.headers
            if verdict.action == "ignore":
                return None, answer.headers
            if verdict.action == "fail":
                raise RemoteRejected(f"{self.name}: {what}: {verdict.reason}")
            if verdict.action == "reauth":
                if relogged:
                    msg = f"{self.name}: {what}: the CRM refused the credentials again after a new login ({verdict.reason})"
                    raise RemoteRejected(msg)
                self.auth.renew()
                relogged = True
                continue
            last = verdict.reason
            wait = wait_asked(answer.headers) or verdict.wait or backoff(attempt, base=0.5, cap=30.0)
            if self.bucket is not None and answer.status in (429, 503):
                self.bucket.pause(wait)  # every thread of the backend holds back, not only this one
            elif attempt + 1 < self.attempts:
                self.sleep(wait)
        raise RemoteUnavailable(f"{self.name}: {what}: {last} (after {self.attempts} attempts); will retry")

    def page(self, resource: Resource, asked: NextPage, *, params: Mapping[str, Any] | None = None,
             what: str = "") -> tuple[Any, Mapping[str, str], list[dict[str, Any]]]:
        """One page of the resource's listing, as asked (``paging.first_page`` / ``next_page``):
        the parsed body, the answer's headers and the records found where the connector says.

        Raises:
            RemoteUnavailable: an answer without its records where the connector says they are.
        """
        what = what or f"list {resource.path}"
        query = {**resource.params, **dict(params or {}), **asked.params}
        body, headers = self._call(resource.method, asked.url or resource.path, params=None if asked.url else query,
                                   json=None, what=what, keys=None)
        found = [] if body is None else select(body, parse_path(resource.records))
        if found is MISSING and isinstance(body, dict) and not body:
            found = []
        if not isinstance(found, list):
            msg = (f"{self.name}: {what}: the answer holds no list at {resource.records or '(the body)'!r} "
                   f"({type(found).__name__ if found is not MISSING else 'absent'}); will retry")
            raise RemoteUnavailable(msg)
        return body, headers, [r for r in found if isinstance(r, dict)]

    def pages(self, resource: Resource, *, params: Mapping[str, Any] | None = None, what: str = "") -> Iterator[list[dict[str, Any]]]:
        """The resource's records, a page at a time, in order. A paginator with ``concurrency``
        above 1 (offsets, page numbers) has that many pages asked at once.

        Raises:
            RemoteUnavailable: an answer without its records where the connector says they are.
            RemoteRejected: the server answers the same page again (it ignores the paginator's parameter).
        """
        what = what or f"list {resource.path}"
        ahead = nth_page(resource.paginator, 0) is not None
        answers = self._at_once(resource, params, what) if ahead else self._in_turn(resource, params, what)
        previous: list[Any] | None = None
        try:
            for records in answers:
                keys = [r.get(resource.key) for r in records]
                if records and keys == previous:
                    msg = (f"{self.name}: {what}: the server answered the same page twice ({len(records)} records from "
                           f"{resource.key} {keys[0]!r}): it ignores the paging parameters; check the connector's paginator")
                    raise RemoteRejected(msg)
                previous = keys
                yield records
        finally:
            answers.close()

    def _following(self, resource: Resource, asked: NextPage, body: Any, headers: Mapping[str, str], count: int,
                   what: str) -> NextPage | None:
        try:
            return next_page(resource.paginator, asked, body, headers, count)
        except PagingStuck as exc:
            raise RemoteRejected(f"{self.name}: {what}: {exc}") from exc

    def _in_turn(self, resource: Resource, params: Mapping[str, Any] | None, what: str) -> Generator[list[dict[str, Any]]]:
        asked: NextPage | None = first_page(resource.paginator)
        while asked is not None:
            body, headers, records = self.page(resource, asked, params=params, what=what)
            yield records
            asked = self._following(resource, asked, body, headers, len(records), what)

    def _at_once(self, resource: Resource, params: Mapping[str, Any] | None, what: str) -> Generator[list[dict[str, Any]]]:
        """Pages whose requests are known in advance, `concurrency` of them in flight, handed
        over in order. The first is read alone: its ``total`` bounds the rest (without one,
        up to `concurrency` pages past the end are asked and dropped). Each call takes its
        token from the backend's bucket, so the rate limit holds across the threads."""
        paginator = resource.paginator
        assert isinstance(paginator, OffsetPaging | PagePaging)  # nth_page answers for these only
        asked = nth_page(paginator, 0)
        assert asked is not None
        body, headers, records = self.page(resource, asked, params=params, what=what)
        yield records
        if self._following(resource, asked, body, headers, len(records), what) is None:
            return
        last = page_count(paginator, body)
        pending: deque[tuple[NextPage, Future[tuple[Any, Mapping[str, str], list[dict[str, Any]]]]]] = deque()
        with ThreadPoolExecutor(max_workers=paginator.concurrency, thread_name_prefix=f"rest-{self.name}") as pool:
            try:
                index = 1
                while True:
                    if last is not None and index >= last and not pending:
                        last = None  # the listing grew past its first total: go on until a short page
                    while len(pending) < paginator.concurrency and (last is None or index < last):
                        ask = nth_page(paginator, index)
                        assert ask is not None
                        pending.append((ask, pool.submit(self.page, resource, ask, params=params, what=what)))
                        index += 1
                    asked, future = pending.popleft()
                    body, headers, records = future.result()
                    yield records
                    if self._following(resource, asked, body, headers, len(records), what) is None:
                        return
            finally:
                for _, future in pending:
                    future.cancel()  # past the end, or the reader stopped: not asked
