"""SQL building blocks every KPI query shares, for SQLite and PostgreSQL alike.

* ``epoch(x)`` — seconds since 1970 of a stored instant (``julianday`` on SQLite,
  ``EXTRACT(EPOCH …)`` on PostgreSQL), so durations are subtractions in SQL.
* ``percentiles(...)`` — median and 90th percentile per group by the *nearest-rank*
  method (the value at rank ``ceil(p·n)`` in ascending order). SQLite has no ordered-set
  aggregates: there it is ``row_number()`` and ``count()`` windows; PostgreSQL computes the
  same definition with ``percentile_disc`` (the first value whose cumulative share reaches
  p), several times faster than the windows. Both give the same answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, case, func, literal, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, Select, select
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["PERCENTS", "epoch", "percentile_discs", "percentiles"]

#: (name, percent) of every percentile a report shows
PERCENTS = (("median", 50), ("p90", 90))


class epoch(FunctionElement[float]):  # noqa: N801 — reads as a SQL function
    """Seconds since 1970-01-01 UTC of an instant column or bound instant."""

    type = Float()
    name = "epoch"
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # SQLite stores UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; 2440587.5 is 1970-01-01 as a Julian day
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch)
def _epoch_default(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


def percentile_discs(source: Any, values: list[str]) -> list[ColumnElement[Any]]:
    """PostgreSQL's ``percentile_disc`` of each of `values` (columns of `source`) at each of
    ``PERCENTS``, labelled ``<value>_median``, ``<value>_p90`` (NULL values are skipped)."""
    return [func.percentile_disc(literal(percent / 100, Float())).within_group(source.c[v]).label(f"{v}_{name}")
            for v in values for name, percent in PERCENTS]


def percentiles(source: Any, keys: list[str], values: list[str], dialect: str = "sqlite", *,
                also_by: list[str] | None = None) -> Select[Any]:
    """Per group of `keys`: ``n`` and, for each of `values`, ``<value>_median`` and
    ``<value>_p90`` (nearest rank). `source` is a subquery holding the key and value
    columns; rows whose value is NULL must be filtered out before (they would rank).
    `dialect`: the database's name (``postgresql`` uses ``percentile_disc``).

    `also_by` (PostgreSQL only): a second, coarser grouping — some of `keys` — computed in
    the same pass by ``GROUPING SETS`` instead of a second copy of every value; its rows
    hold NULL in the other keys and 1 in the extra column ``whole`` (0 on the others)."""
    key_cols = [source.c[k] for k in keys]
    if dialect == "postgresql":
        discs = percentile_discs(source, values)
        if also_by is None:
            return select(*key_cols, func.count().label("n"), *discs).group_by(*key_cols)
        rest = [source.c[k] for k in keys if k not in also_by]
        sets = func.grouping_sets(tuple_(*key_cols), tuple_(*(source.c[k] for k in also_by)))
        return select(*key_cols, func.grouping(*rest).label("whole"), func.count().label("n"), *discs).group_by(sets)
    if also_by is not None:
        msg = "percentiles(also_by=...) needs GROUPING SETS: PostgreSQL only"
        raise ValueError(msg)
    ranks = [func.row_number().over(partition_by=key_cols, order_by=source.c[v]).label(f"rn_{v}") for v in values]
    # the count over the same ordered window as the first rank (the whole partition as its
    # frame), written right after it: SQLite shares one sort between adjacent windows of the
    # same order only (after the second rank it sorted a third time: 3.6 s against 3.3 s of
    # CPU for 1,000,000 requests); a bare count() OVER (PARTITION BY …) would sort again too
    size = func.count().over(partition_by=key_cols, order_by=source.c[values[0]], rows=(None, None))
    ranked = select(*key_cols, *(source.c[v] for v in values), ranks[0], size.label("n"), *ranks[1:]).subquery("ranked")
    outs: list[ColumnElement[Any]] = []
    for v in values:
        for name, percent in PERCENTS:
            at_rank = (ranked.c.n * percent + 99) // 100  # ceil(p·n) in integer arithmetic, on both databases
            outs.append(func.max(case((ranked.c[f"rn_{v}"] == at_rank, ranked.c[v]))).label(f"{v}_{name}"))
    rk = [ranked.c[k] for k in keys]
    return select(*rk, func.max(ranked.c.n).label("n"), *outs).group_by(*rk)

