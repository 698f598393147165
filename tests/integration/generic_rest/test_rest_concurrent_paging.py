"""Concurrent page reads (``concurrency:`` on offset and page-number paginators) against the
Helpline fixture on loopback: pages asked at once and handed over in order, nothing asked
past a known total, the rate limit shared by the threads, a server ignoring the offset
still caught."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.generic_rest.client import RestClient
from adapters.generic_rest.connector import load_connector
from adapters.generic_rest.fixtures.helpline import EXAMPLE, Helpline
from adapters.generic_rest.limits import TokenBucket
from crm_bridge.errors import RemoteRejected

OFFSET = "paginator: {kind: offset, limit: 100, total: payload.count, concurrency: 4}"


@pytest.fixture
def desk() -> Iterator[Helpline]:
    with Helpline(tickets=1000, clients=1, key="k", latency=0.02) as server:
        yield server


def client(desk: Helpline, tmp_path: Path, paginator: str) -> RestClient:
    text = (EXAMPLE / "connector.yaml").read_text(encoding="utf-8")
    assert OFFSET in text
    text = text.replace(OFFSET, paginator, 1)
    text = text.replace("rate_limit: {per_second: 20}", "rate_limit: {per_second: 1000, burst: 50}")
    path = tmp_path / "helpline.yaml"
    path.write_text(text, encoding="utf-8")
    return RestClient("helpline", load_connector(path, {"HELPLINE_URL": desk.url, "HELPLINE_KEY": "k"}))


def ids(client: RestClient) -> list[int]:
    return [r["id"] for page in client.pages(client.connector.resources["tickets"]) for r in page]


def test_pages_are_asked_at_once_handed_over_in_order_and_none_past_the_total(desk: Helpline, tmp_path: Path) -> None:
    read = ids(client(desk, tmp_path, "paginator: {kind: offset, limit: 100, total: payload.count, concurrency: 4}"))
    assert read == list(range(1, 1001))
    assert desk.calls["GET /tickets"] == 10  # the first answer's count bounds the rest
    assert 2 <= desk.most_in_flight <= 4


def test_without_a_total_a_short_page_ends_the_listing_and_the_pages_past_it_are_dropped(desk: Helpline, tmp_path: Path) -> None:
    read = ids(client(desk, tmp_path, "paginator: {kind: offset, limit: 100, concurrency: 3}"))
    assert read == list(range(1, 1001))
    assert 11 <= desk.calls["GET /tickets"] <= 13  # the empty 11th page ends it; at most 2 more were in flight


def test_a_reader_that_stops_early_leaves_no_page_asked_beyond_those_in_flight(desk: Helpline, tmp_path: Path) -> None:
    pages = client(desk, tmp_path, "paginator: {kind: offset, limit: 100, total: payload.count, concurrency: 3}").pages(
        load_connector(tmp_path / "helpline.yaml", {"HELPLINE_URL": desk.url, "HELPLINE_KEY": "k"}).resources["tickets"])
    first = next(pages)
    second = next(pages)
    pages.close()  # type: ignore[attr-defined]
    assert [first[0]["id"], second[0]["id"]] == [1, 101]
    assert desk.calls["GET /tickets"] <= 5


def test_the_threads_share_the_backends_rate_limit(desk: Helpline, tmp_path: Path) -> None:
    reader = client(desk, tmp_path, "paginator: {kind: offset, limit: 100, total: payload.count, concurrency: 4}")
    waits: list[float] = []
    now = [0.0]  # the bucket's own clock: it moves by the waits alone, not by how slowly a busy machine runs the test

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    reader.bucket = TokenBucket(5, 2, clock=lambda: now[0], sleep=sleep)  # 5 calls a second, 2 at once
    assert ids(reader) == list(range(1, 1001))
    assert sum(waits) == pytest.approx((10 - 2) / 5)  # every call beyond the burst waited its turn, whichever thread made it


def test_a_server_ignoring_the_offset_is_caught_with_pages_in_flight(desk: Helpline, tmp_path: Path) -> None:
    desk.ignore_offset = True
    with pytest.raises(RemoteRejected, match="same page twice"):
        ids(client(desk, tmp_path, "paginator: {kind: offset, limit: 100, total: payload.count, concurrency: 4}"))
    assert desk.calls["GET /tickets"] <= 5
