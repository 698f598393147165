"""Each paginator decides the next page from an answer; none asks the same page twice."""

from __future__ import annotations

import pytest

from adapters.generic_rest.connector import (
    CursorPaging,
    NextLinkPaging,
    NoPaging,
    OffsetPaging,
    PagePaging,
    StartPaging,
)
from adapters.generic_rest.paging import (
    NextPage,
    PagingStuck,
    first_page,
    next_page,
    nth_page,
    page_count,
)
from adapters.generic_rest.select import MISSING, parse_path, select


def test_selectors_reach_into_envelopes_and_lists() -> None:
    body = {"_embedded": {"leads": [{"id": 1}, {"id": 2}]}, "next": None}
    assert select(body, parse_path("_embedded.leads.1.id")) == 2
    assert select(body, parse_path("")) is body
    assert select(body, parse_path("next")) is None
    assert select(body, parse_path("_embedded.contacts")) is MISSING
    assert select(body, parse_path("_embedded.leads.5")) is MISSING
    with pytest.raises(ValueError, match="no empty step"):
        parse_path("a..b")


def test_offset_paging_walks_until_the_total_or_a_short_page() -> None:
    p = OffsetPaging(kind="offset", limit=100, total="count")
    asked = first_page(p)
    assert asked.params == {"offset": 0, "limit": 100}
    second = next_page(p, asked, {"count": 250}, {}, 100)
    assert second == NextPage({"offset": 100, "limit": 100})
    third = next_page(p, second, {"count": 250}, {}, 100)
    assert third is not None
    assert next_page(p, third, {"count": 250}, {}, 50) is None
    short = OffsetPaging(kind="offset", limit=100)
    assert next_page(short, first_page(short), {}, {}, 99) is None
    assert next_page(short, first_page(short), {}, {}, 100) == NextPage({"offset": 100, "limit": 100})


def test_page_paging_follows_hal_next_links_or_stops_on_a_short_page() -> None:
    hal = PagePaging(kind="page", size=250, next="_links.next")
    asked = first_page(hal)
    assert asked.params == {"page": 1, "limit": 250}
    body = {"_embedded": {"leads": []}, "_links": {"self": {"href": "x"}, "next": {"href": "y"}}}
    assert next_page(hal, asked, body, {}, 250) == NextPage({"page": 2, "limit": 250})
    assert next_page(hal, asked, {"_links": {"self": {"href": "x"}}}, {}, 250) is None
    plain = PagePaging(kind="page", size=50, size_param=None, first=0)
    assert first_page(plain).params == {"page": 0}
    assert next_page(plain, first_page(plain), {}, {}, 49) is None
    assert next_page(plain, first_page(plain), {}, {}, 0) is None


def test_bitrix_start_paging_takes_next_from_the_body_and_refuses_to_go_back() -> None:
    p = StartPaging(kind="start")
    asked = first_page(p)
    assert asked.params == {}
    second = next_page(p, asked, {"result": [1] * 50, "next": 50, "total": 120}, {}, 50)
    assert second == NextPage({"start": 50})
    assert next_page(p, second, {"result": [1] * 20, "total": 120}, {}, 20) is None
    with pytest.raises(PagingStuck, match="ignores start"):
        next_page(p, second, {"next": 50}, {}, 50)


def test_cursor_paging_stops_on_an_empty_cursor_and_refuses_a_repeated_one() -> None:
    p = CursorPaging(kind="cursor", next="meta.next_cursor", size_param="per_page", size=2)
    asked = first_page(p)
    assert asked.params == {"per_page": 2}
    second = next_page(p, asked, {"meta": {"next_cursor": "abc"}}, {}, 2)
    assert second == NextPage({"per_page": 2, "cursor": "abc"})
    assert next_page(p, second, {"meta": {"next_cursor": ""}}, {}, 1) is None
    with pytest.raises(PagingStuck):
        next_page(p, second, {"meta": {"next_cursor": "abc"}}, {}, 2)


def test_next_link_paging_reads_the_link_header_or_the_body() -> None:
    header = NextLinkPaging(kind="next_link")
    link = '<https://api.example/items?page=2>; rel="next", <https://api.example/items?page=9>; rel="last"'
    assert next_page(header, NextPage(), {}, {"Link": link}, 10) == NextPage(url="https://api.example/items?page=2")
    assert next_page(header, NextPage(), {}, {"Link": '<https://api.example/items?page=9>; rel="last"'}, 10) is None
    body = NextLinkPaging(kind="next_link", next="_links.next.href")
    here = NextPage(url="https://api.example/items?page=2")
    with pytest.raises(PagingStuck, match="page just read"):
        next_page(body, here, {"_links": {"next": {"href": "https://api.example/items?page=2"}}}, {}, 10)
    assert next_page(NoPaging(), NextPage(), {}, {}, 10) is None


def test_pages_known_in_advance_are_planned_only_with_concurrency() -> None:
    offset = OffsetPaging(kind="offset", limit=100, total="payload.count", concurrency=4)
    assert nth_page(offset, 3) == NextPage({"offset": 300, "limit": 100})
    assert page_count(offset, {"payload": {"count": 250}}) == 3
    assert page_count(offset, {"payload": {}}) is None
    pages = PagePaging(kind="page", size=250, total="_total_items", concurrency=2)
    assert nth_page(pages, 0) == NextPage({"page": 1, "limit": 250})
    assert nth_page(pages, 2) == NextPage({"page": 3, "limit": 250})
    assert page_count(pages, {"_total_items": 500}) == 2
    assert next_page(pages, NextPage({"page": 2, "limit": 250}), {"_total_items": 500}, {}, 250) is None  # the total ends it
    assert nth_page(OffsetPaging(kind="offset"), 1) is None  # in turn: concurrency 1
    assert nth_page(StartPaging(kind="start"), 1) is None  # a start is known only from the answer
