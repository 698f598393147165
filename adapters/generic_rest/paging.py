"""Paginators as pure decisions: given the page just read, what to ask for next.

``first_page(paginator)`` gives the query parameters of the first request; after each
answer ``next_page(paginator, asked, body, headers, count)`` says where the next page
is (new query parameters, or a whole URL for next-link paging) or ``None`` at the end.
No HTTP here: the reader (``adapters.generic_rest.client``) asks, this module decides,
and the tests feed it answers.

A listing must make progress: a next cursor, start or link equal to the one just used
(or a start that goes back) is a ``PagingStuck`` — a server that ignores the parameter
would otherwise be asked the same page for ever. Offsets and page numbers always move
forward here; a server ignoring them repeats its first page, which the reader catches by
the records' keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.generic_rest.connector import (
    CursorPaging,
    NextLinkPaging,
    NoPaging,
    OffsetPaging,
    PagePaging,
    Paginator,
    StartPaging,
)
from adapters.generic_rest.select import MISSING, parse_path, select

__all__ = ["NextPage", "PagingStuck", "first_page", "next_page", "nth_page", "page_count"]

_LINK = re.compile(r'<([^>]*)>\s*;[^,]*?\brel="?next"?', re.IGNORECASE)


class PagingStuck(Exception):  # noqa: N818 - a condition named for what the operator sees
    """The server answered with a next page that does not move the listing forward."""


@dataclass(frozen=True)
class NextPage:
    """The next request: query parameters to merge into the resource's, or a whole URL."""

    params: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None


def first_page(paginator: Paginator) -> NextPage:
    match paginator:
        case OffsetPaging():
            return NextPage({paginator.offset_param: 0, paginator.limit_param: paginator.limit})
        case PagePaging():
            size = {paginator.size_param: paginator.size} if paginator.size_param else {}
            return NextPage({paginator.page_param: paginator.first, **size})
        case CursorPaging():
            return NextPage({paginator.size_param: paginator.size} if paginator.size_param else {})
        case StartPaging() | NextLinkPaging() | NoPaging():
            return NextPage()
    raise AssertionError(paginator)  # pragma: no cover - the union is closed


def nth_page(paginator: Paginator, index: int) -> NextPage | None:
    """The request for page `index` (0: the first) when the paginator can say it before the
    pages before it are read (offsets and page numbers), else None: those are read in turn."""
    match paginator:
        case OffsetPaging() if paginator.concurrency > 1:
            return NextPage({paginator.offset_param: index * paginator.limit, paginator.limit_param: paginator.limit})
        case PagePaging() if paginator.concurrency > 1:
            size = {paginator.size_param: paginator.size} if paginator.size_param else {}
            return NextPage({paginator.page_param: paginator.first + index, **size})
    return None


def page_count(paginator: Paginator, body: Any) -> int | None:
    """How many pages the listing has, by the ``total`` in the first answer (None: unknown)."""
    total = select(body, parse_path(paginator.total)) if isinstance(paginator, OffsetPaging | PagePaging) and paginator.total else None
    size = paginator.limit if isinstance(paginator, OffsetPaging) else paginator.size if isinstance(paginator, PagePaging) else 0
    if not isinstance(total, int) or isinstance(total, bool) or size == 0:
        return None
    return max(1, -(-total // size))


def next_page(paginator: Paginator, asked: NextPage, body: Any, headers: Mapping[str, str], count: int) -> NextPage | None:
    """Where the page after `asked` is, or None when `asked` was the last one.

    Args:
        asked: the request that produced `body`.
        body: the parsed answer.
        headers: the answer's headers (``Link``).
        count: how many records the page held.

    Raises:
        PagingStuck: the answer points back at the page just read (or before it).
    """
    match paginator:
        case NoPaging():
            return None
        case OffsetPaging():
            offset = int(asked.params.get(paginator.offset_param, 0))
            if count == 0 or count < paginator.limit and paginator.total is None:
                return None
            if paginator.total is not None:
                total = select(body, parse_path(paginator.total))
                if isinstance(total, int) and offset + count >= total:
                    return None
            return NextPage({**asked.params, paginator.offset_param: offset + count})
        case PagePaging():
            page = int(asked.params.get(paginator.page_param, paginator.first))
            if count == 0:
                return None
            if paginator.next is not None:
                if select(body, parse_path(paginator.next)) in (MISSING, None, "", {}):
                    return None
            elif count < paginator.size:
                return None
            total = select(body, parse_path(paginator.total)) if paginator.total else None
            if isinstance(total, int) and (page - paginator.first) * paginator.size + count >= total:
                return None
            return NextPage({**asked.params, paginator.page_param: page + 1})
        case StartPaging():
            start = select(body, parse_path(paginator.next))
            if start in (MISSING, None, "") or count == 0:
                return None
            here = int(asked.params.get(paginator.param, 0))
            if int(start) <= here:
                msg = f"the answer's {paginator.next} is {start}, not after {here}: the server ignores {paginator.param}"
                raise PagingStuck(msg)
            return NextPage({**asked.params, paginator.param: int(start)})
        case CursorPaging():
            token = select(body, parse_path(paginator.next))
            if token in (MISSING, None, "") or count == 0:
                return None
            if asked.params.get(paginator.param) == token:
                msg = f"the answer's {paginator.next} is the cursor just used: the server ignores {paginator.param}"
                raise PagingStuck(msg)
            return NextPage({**asked.params, paginator.param: token})
        case NextLinkPaging():
            url = _link_next(headers) if paginator.next == "header" else select(body, parse_path(paginator.next))
            if url in (MISSING, None, "") or count == 0:
                return None
            if not isinstance(url, str):
                msg = f"the answer's {paginator.next} is {url!r}, not a URL"
                raise PagingStuck(msg)
            if url == asked.url:
                msg = "the answer's next link is the page just read"
                raise PagingStuck(msg)
            return NextPage(url=url)
    raise AssertionError(paginator)  # pragma: no cover - the union is closed


def _link_next(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header."""
    for name, value in headers.items():
        if name.lower() == "link":
            found = _LINK.search(value)
            if found:
                return found.group(1)
    return None
