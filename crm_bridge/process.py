"""Settings of a whole bridge process (the CLI, the scheduler, a worker), made once at start."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GC_THRESHOLDS", "collector_paused", "tune_gc"]

#: CPython's cyclic collector runs its young generation every 700 net allocations (3.11);
#: an import allocates millions of short-lived objects a page, nearly all freed by their
#: reference counts, so every 10,000 is enough. The older generations keep their ratios.
GC_THRESHOLDS = (10_000, 10, 10)
_tuned = False


def tune_gc() -> None:
    """Fit the cyclic garbage collector to a bridge process; call once its code is loaded.

    A page's transaction holds its rows, bindings and SLA clocks until the commit, and with
    CPython's defaults the collector walked them, and every object startup made, again
    and again: about 1,800 collections, 15 of them full, took 11% of importing 30,000
    records. What startup built (modules, pydantic schemas, SQLAlchemy's tables) lives as
    long as the process, so it is frozen out of every later collection; cycles of garbage
    are still collected, in bigger batches. A second call changes nothing.
    """
    global _tuned  # noqa: PLW0603 - a process-wide switch, made once
    if _tuned:
        return
    gc.collect()  # no garbage of startup is frozen
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    _tuned = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off the cyclic collector for a bounded burst of work whose objects live until
    its end, e.g. an import storing a page or the SLA planner planning a chunk (16 % of its
    CPU went to collections): an import page's records, values and rows live until the
    commit, and the young generation, filled with them every 10,000 allocations, was
    walked again each time (57 collections of a 20,000-request import, about 6 % of its
    CPU). Nearly all of it is freed by reference counts; the one collection after the burst
    finds the few cycles. Nested, the outermost decides; the process's other threads
    are not collected meanwhile either, so keep the burst short (a page, not a pass)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
