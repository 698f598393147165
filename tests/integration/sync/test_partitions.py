"""Key-range partitions hold whatever order 1C compares its keys in.

A 1C base compares references in its own order (1C's stored form, a text order, SQL
Server's ``uniqueidentifier``): the emulator's ``ref_order``. Eight partitions per model,
imported by real queue workers on PostgreSQL, must read every record exactly once on
each of them: no key in two slices, none in none, no unique-constraint failure."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.refs import REF_ORDERS
from crm_bridge.app import App
from crm_bridge.queue import defer_all, prepare_store, run_worker
from sync.engine import pull
from sync.tables import BindingRow, CheckpointRow, SyncRunRow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DOC = "Document_Интерес"
# Daily ticks: the test queues the pulls itself, and the worker stops once the queue is empty.
DAY = "schedule: {pull_every: 86400, dispatch_every: 86400, sla_tick_every: 86400, reconcile_every: 86400}\n"


@pytest.fixture(params=sorted(REF_ORDERS))
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(requests=201, seed=19, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  ref_order=request.param) as emu:
        yield emu


def pg_app(pg_url: str, base_url: str) -> App:
    config = demo_config(base_url, Path("unused.db")).replace("sqlite:///unused.db", pg_url)
    return App.from_text(config + DAY, clock=lambda: NOW)


def count_reads(app: App) -> Counter[tuple[str, str]]:
    """Every (entity set, key) the backend's keyset pages bring, counted as they arrive."""
    client = app.backend("demo-1c").client
    pages, seen, lock = client.pages, Counter[tuple[str, str]](), threading.Lock()

    def counted(entity_set: str, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        for page in pages(entity_set, **kwargs):
            with lock:
                seen.update((entity_set, str(row["Ref_Key"])) for row in page)
            yield page

    client.pages = counted
    return seen


def test_eight_partitions_run_by_queue_workers_read_every_record_once_in_any_key_order(
        emulator: Emulator, pg_url: str) -> None:
    app = pg_app(pg_url, emulator.base_url)
    try:
        prepare_store(app)
        reads = count_reads(app)
        assert defer_all(app, ["sync.pull"]) == 4 * 8  # four models, eight slices each
        run_worker(app, concurrency=4, wait=False)
        with app.store.engine.connect() as conn:
            jobs = conn.execute(text("SELECT task_name, args, status, attempts FROM procrastinate_jobs")).all()
        # A pull that succeeded is deleted; one that failed stays, and so does its retry.
        assert [j for j in jobs if j.task_name == "sync.pull"] == []
        with app.store.transaction() as s:
            runs = s.execute(select(SyncRunRow.status, SyncRunRow.error)).all()
            bound = s.execute(select(BindingRow.model, BindingRow.remote_id)).all()
            bounds = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == f"ticket:{DOC}#cut/8"))
        assert [r for r in runs if r.status != "ok"] == []
        assert len(bound) == len(set(bound))
        for entity_set in ("Catalog_Партнеры", "Catalog_КонтактныеЛицаПартнеров", "Catalog_Пользователи", DOC):
            keys = {str(d["Ref_Key"]) for d in emulator.records(entity_set) if not d.get("IsFolder")}  # folders: no records
            read = {k: n for (name, k), n in reads.items() if name == entity_set}
            assert set(read) == keys, f"{entity_set}: {len(keys - set(read))} never read"
            assert [k for k, n in read.items() if n > 1] == [], f"{entity_set}: read twice"
        # Even slices: the cuts are keys at equal steps of the base's own order.
        assert bounds is not None
        order = REF_ORDERS[emulator.service.config.ref_order]
        docs = [order(str(d["Ref_Key"])) for d in emulator.records(DOC)]
        sizes = [sum(1 for k in docs if (start is None or order(start) <= k) and (before is None or k < order(before)))
                 for start, before in bounds["bounds"]]
        assert sum(sizes) == len(docs) == 201
        assert max(sizes) - min(sizes) <= 2, sizes
    finally:
        app.close()


def test_slices_stay_disjoint_when_requests_are_created_between_the_probes(emulator: Emulator, tmp_path: Path) -> None:
    """The cut probes 1C once per slice; 1C users creating requests meanwhile move what
    lies at each step (here 30 keys at the very start of the order, more than a slice
    holds, before each probe). The bounds still follow one another in the base's order,
    and every request there was before the cut is imported once."""
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=lambda: NOW)
    before_cut = {str(d["Ref_Key"]) for d in emulator.records(DOC) if not d["DeletionMark"]}
    try:
        app.upgrade_db()
        client = app.backend("demo-1c").client
        # Each burst lower in the order than the one before: a cut probed from the start
        # of the order would come back below the cut before it.
        real_query, asked, created = client.query, [], iter(range(999, 0, -1))

        def busy_1c(entity_set: str, **kwargs: Any) -> list[dict[str, Any]]:
            if entity_set == DOC and kwargs.get("top") == 1:  # a probe
                asked.append(kwargs)
                for _ in range(30):  # first in every order of the three: zeros but the last group's end
                    emulator.store.create(DOC, {"Тема": "Звонок"}, f"00000000-0000-0000-0000-{next(created):012x}")
            rows: list[dict[str, Any]] = real_query(entity_set, **kwargs)
            return rows

        client.query = busy_1c
        for index in range(8):
            pull(app, NOW, backend="demo-1c", model="ticket", partition=f"{index}/8")
        client.query = real_query
        assert len(asked) == 7
        with app.store.transaction() as s:
            bounds = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == f"ticket:{DOC}#cut/8"))
            bound = s.scalars(select(BindingRow.remote_id).where(BindingRow.model == "ticket")).all()
        assert bounds is not None
        order = REF_ORDERS[emulator.service.config.ref_order]
        cuts = [order(before) for _, before in bounds["bounds"][:-1]]
        assert cuts == sorted(cuts)
        assert len(set(cuts)) == 7
        assert len(bound) == len(set(bound))
        assert before_cut <= set(bound)
    finally:
        app.close()


def test_bounds_kept_from_the_cut_by_an_assumed_order_are_cut_again_and_read_once(tmp_path: Path) -> None:
    """A store upgraded from the cut that sorted its probes as 1C's stored form: on a base
    comparing keys as text those slices overlap. They are cut again at the next pass, and
    a slice whose cursor lies below its new start reads nothing below it."""
    with Emulator(requests=201, seed=19, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  ref_order="text") as emulator:
        app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=lambda: NOW)
        try:
            app.upgrade_db()
            text_keys = sorted(str(d["Ref_Key"]) for d in emulator.records(DOC))  # the base's order
            probes = [text_keys[i * len(text_keys) // 8] for i in range(1, 8)]
            assumed = sorted(probes, key=REF_ORDERS["binary"])
            assert assumed != probes  # the old cut's slices run backwards on this base
            old = [None, *assumed, None]
            with app.store.transaction() as s:
                s.add(CheckpointRow(backend="demo-1c", stream=f"ticket:{DOC}#cut/8",
                                    value={"bounds": [list(pair) for pair in zip(old[:-1], old[1:], strict=True)]}))
                s.add(CheckpointRow(backend="demo-1c", stream=f"ticket:{DOC}#3/8", value={"after": text_keys[0]}))
            reads = count_reads(app)
            for index in range(8):
                pull(app, NOW, backend="demo-1c", model="ticket", partition=f"{index}/8")
            with app.store.transaction() as s:
                kept = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == f"ticket:{DOC}#cut/8"))
                bound = s.scalars(select(BindingRow.remote_id).where(BindingRow.model == "ticket")).all()
            assert kept is not None
            assert [before for _, before in kept["bounds"][:-1]] == probes  # cut again, in the base's order
            assert [k for (name, k), n in reads.items() if name == DOC and n > 1] == []
            assert {k for (name, k) in reads if name == DOC} == set(text_keys)  # every one read
            assert len(bound) == len(set(bound))
        finally:
            app.close()


def test_a_slice_killed_mid_import_resumes_inside_its_range_in_the_bases_order(emulator: Emulator, tmp_path: Path) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    page_size: 10\n", clock=lambda: NOW)
    try:
        app.upgrade_db()
        backend = app.backend("demo-1c")
        real_read = backend.read

        def two_pages(*args: Any, **kwargs: Any) -> Iterator[Any]:  # as a kill after the second page would
            for n, page in enumerate(real_read(*args, **kwargs)):
                if n == 2:
                    raise RuntimeError("killed")
                yield page

        backend.read = two_pages
        with pytest.raises(RuntimeError, match="killed"):
            pull(app, NOW, backend="demo-1c", model="ticket", partition="2/8")
        backend.read = real_read
        with app.store.transaction() as s:
            cursor = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == f"ticket:{DOC}#2/8"))
            kept = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == f"ticket:{DOC}#cut/8"))
            stored = set(s.scalars(select(BindingRow.remote_id).where(BindingRow.model == "ticket")).all())
        assert cursor is not None
        assert kept is not None
        order = REF_ORDERS[emulator.service.config.ref_order]
        start, before = kept["bounds"][2]
        assert order(start) < order(cursor["after"]) < order(before)
        reads = count_reads(app)
        pull(app, NOW, backend="demo-1c", model="ticket", partition="2/8")
        resumed = {k for (name, k) in reads if name == DOC}
        assert all(order(cursor["after"]) < order(k) < order(before) for k in resumed)  # after the cursor, inside
        assert not resumed & stored
        with app.store.transaction() as s:
            bound = s.scalars(select(BindingRow.remote_id).where(BindingRow.model == "ticket")).all()
        expected = {str(d["Ref_Key"]) for d in emulator.records(DOC)
                    if not d["DeletionMark"] and order(start) <= order(str(d["Ref_Key"])) < order(before)}
        assert set(bound) == expected
        assert len(bound) == len(set(bound))
    finally:
        app.close()
