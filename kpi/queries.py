"""KPI queries on the store: every figure is computed by SQL (SQLAlchemy Core, SQLite and
PostgreSQL), Python only merges a handful of rows per group. The web dashboard calls
``kpi_report`` and ``sla_report`` too; both return plain dataclasses.

Where each figure comes from (the definitions ``kpi/README.md`` repeats for readers):

* **volume** — requests *opened* in the period (``tickets.created_at``).
* **first response** — the SLA ledger's ``fulfil`` row of the ``first_response`` clock
  (cycle 1, newest generation) *inside* the period: its business seconds (on the policy's
  calendar, pauses excluded) and calendar seconds (wall time since opening).
* **resolution (MTTR)** — requests *resolved* in the period (``tickets.resolved_at``): the
  sum over their ``resolution`` cycles' ``fulfil`` rows (a reopened request adds each cycle,
  not the time it sat resolved in between).
* **SLA compliance per target** — clock cycles (first response, resolution) that ended
  (``fulfil``) in the period; a cycle with a ``breach`` row is missed, else met.
* **backlog** — requests open at the period's end (or now, for a running period): opened
  before it, not cancelled, and either open now or resolved/closed after it; age = that
  instant minus opening (calendar time).
* **reopen rate** — of the requests resolved in the period, the share with a ``reopen``
  row in the ledger (a request reopened twice counts once; ``reopens`` counts both).
* **repeat contacts** — of the customer's contacts in the period (requests opened with a
  customer, plus the messages intake attached to an open request as a repeat contact), the
  repeats: requests whose customer opened a request on the same *topic* at most
  ``repeat_within_days`` before (topic = type + the subject in lower case with
  ``re:``/``fw:``/``fwd:`` removed and spaces trimmed; SQLite lowers ASCII only), and every
  ``message`` history event with ``repeat: true`` (intake's, core data) dated in the period,
  counted in the group of the request it joined.
* **CSAT** — from the source the csat addon registers (usage ``kpi.csat``); none: NULL.
* **cost** — business hours worked × hourly rate (the assignee's, else the team's, else
  the default), over the requests resolved in the period; business hours worked = the
  resolution business time above (from opening, pauses excluded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from crm_bridge.store.tables import AgentRow, CustomerRow, TeamRow, TicketEventRow, TicketRow
from crm_bridge.store.types import UTCDateTime
from kpi.errors import UnknownDimension
from kpi.figures import METRICS, TOTAL, Compliance, CsatSource, Filters, KpiReport, KpiRow, Times
from kpi.measures import epoch, percentile_discs, percentiles
from kpi.period import Period
from kpi.settings import KpiConfig
from sla.tables import SlaClockRow, SlaEventRow

__all__ = ["DIMENSIONS", "METRICS", "PG_SETTINGS", "Compliance", "CsatSource", "Filters", "KpiReport", "KpiRow", "Times",
           "compliance_and_load", "kpi_report", "sla_report"]

NONE = "—"
ANY = Filters()  # no filter
_OPEN = ("new", "in_progress", "waiting_customer")
_EVERY = frozenset({"first_response", "resolution", "sla", "backlog", "reopen", "repeat", "csat", "cost"})

#: --by NAME: the column each dimension groups by
DIMENSIONS: dict[str, Any] = {
    "team": TeamRow.name, "agent": AgentRow.name, "customer": CustomerRow.name, "type": TicketRow.type,
    "channel": TicketRow.channel, "source": TicketRow.source, "priority": TicketRow.priority,
    "contract": TicketRow.contract, "policy": TicketRow.sla_policy,
}


# -- the filtered requests, with their group keys and hourly rate --------------------------
def _rate(config: KpiConfig) -> ColumnElement[Any]:
    cost = config.cost
    if not cost.configured:
        return null().cast(Float).label("rate")
    options: list[ColumnElement[Any]] = []
    if cost.agents:
        options.append(case({k: literal(float(v)) for k, v in cost.agents.items()}, value=AgentRow.name))
    if cost.teams:
        options.append(case({k: literal(float(v)) for k, v in cost.teams.items()}, value=TeamRow.name))
    if cost.hourly is not None:
        options.append(literal(float(cost.hourly)))
    return (func.coalesce(*options) if len(options) > 1 else options[0]).label("rate")


def _requests(by: tuple[str, ...], filters: Filters, config: KpiConfig, *, with_agent: bool = False) -> Any:
    """The filtered requests with their group keys ``g0``… and hourly ``rate``; `with_agent`:
    also the assignee's name as ``agent`` (the agent load, counted in the same passes)."""
    for name in by:
        if name not in DIMENSIONS:
            raise UnknownDimension(name, list(DIMENSIONS))
    keys = ([func.coalesce(DIMENSIONS[name], NONE).label(f"g{i}") for i, name in enumerate(by)] if by
            else [literal_column(f"'{TOTAL}'", String).label("g0")])
    query = select(TicketRow.id, TicketRow.created_at, TicketRow.resolved_at, TicketRow.closed_at, TicketRow.status,
                   TicketRow.sla_breached, *keys, _rate(config),
                   *([func.coalesce(AgentRow.name, NONE).label("agent")] if with_agent else []))
    # only the names a key, a filter or a rate reads: SQLite kept an unused LEFT JOIN, a
    # primary-key lookup per request in every pass over the store
    used = {*by, *filters.given(), *(["agent"] if with_agent else [])}
    if "team" in used or config.cost.teams:
        query = query.outerjoin(TeamRow, TeamRow.id == TicketRow.team_id)
    if "agent" in used or config.cost.agents:
        query = query.outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
    if "customer" in used:
        query = query.outerjoin(CustomerRow, CustomerRow.id == TicketRow.customer_id)
    query = query.where(TicketRow.deleted.is_(False))
    for name, value in filters.given().items():
        query = query.where(DIMENSIONS[name] == value)
    return query.subquery("t")


def _touching(t: Any, period: Period, cut: datetime, dialect: str) -> ColumnElement[bool]:
    """The requests of `t` the period's counts can concern, each part found by an index:
    opened or resolved in `period`, and every request that may be open at `cut` — open now,
    resolved or closed at or after it, or never finished. A superset (the counts' own
    conditions decide) instead of a pass over every request the store ever held (a second
    of CPU at 1,000,000 requests). PostgreSQL reads the terms as one OR (a BitmapOr of the
    indexes, then each page once); SQLite as the ids of a UNION ALL of index lookups — its
    multi-index OR is not chosen inside the ranked backlog's query (2.6 s against 0.2)."""
    if dialect != "sqlite":
        return or_(_in(t.c.created_at, period), _in(t.c.resolved_at, period), t.c.status.in_(_OPEN),
                   t.c.resolved_at >= cut, t.c.closed_at >= cut,
                   and_(t.c.closed_at.is_(None), t.c.resolved_at.is_(None), t.c.status != "cancelled"))
    r = TicketRow
    ids: ColumnElement[bool] = t.c.id.in_(union_all(
        select(r.id).where(_in(r.created_at, period)),
        select(r.id).where(_in(r.resolved_at, period)),
        select(r.id).where(r.status.in_(_OPEN)),
        select(r.id).where(r.resolved_at >= cut),
        select(r.id).where(r.closed_at >= cut),
        select(r.id).where(r.closed_at.is_(None), r.resolved_at.is_(None), r.status != "cancelled"),
    ))
    return ids


def _ended_in(period: Period) -> Any:
    """The requests with a clock fulfilled in `period` (the ledger's kind-and-instant index)."""
    return select(SlaEventRow.ticket_id).where(SlaEventRow.kind == "fulfil", _in(SlaEventRow.at, period))


#: PostgreSQL settings for the report's statements (restored after them): JIT compiling
#: their plans cost 0.6 s of each big statement at 1,000,000 requests, more than it saved;
#: the percentiles' sorts spilled to disk within the default 4 MB
PG_SETTINGS = {"jit": "off", "work_mem": "64MB"}


@contextmanager
def _settings(session: Session) -> Iterator[None]:
    """`PG_SETTINGS` for the statements inside, on PostgreSQL (``set_config(…, is_local)``:
    the caller's transaction gets its own values back after them; nothing on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = list(PG_SETTINGS)
    before = session.execute(select(*(func.current_setting(name) for name in names))).one()
    session.execute(select(*(func.set_config(name, value, true()) for name, value in PG_SETTINGS.items())))
    yield  # an error aborts the transaction: its local settings go with it
    session.execute(select(*(func.set_config(name, value, true()) for name, value in zip(names, before, strict=True))))


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _key(row: Any, n: int) -> tuple[str, ...]:
    return tuple(str(row[i]) for i in range(n))


class _Groups:
    """The rows being filled, by group key."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], KpiRow] = {}

    def __call__(self, key: tuple[str, ...]) -> KpiRow:
        if key not in self.rows:
            self.rows[key] = KpiRow(key)
        return self.rows[key]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _per_request(period: Period) -> Any:
    """Per request resolved in `period`, from the ledger's newest generation: the business
    and calendar seconds of its fulfilled resolution cycles and how many times it was
    reopened (only those requests' rows are read, through the ledger's ticket index)."""
    ev = SlaEventRow
    resolved = select(TicketRow.id).where(_in(TicketRow.resolved_at, period))
    is_res = ev.kind == "fulfil"
    # No `kind IN (...)` in WHERE: with it SQLite walks the kind-and-instant index over every
    # fulfilment of the store's history (21 s at 1,000,000 requests) instead of looking up
    # the period's resolved requests by the ledger's ticket index; the kinds are told apart
    # by the CASEs, and HAVING keeps only requests with a fulfilment or a reopening, as before.
    return (select(ev.ticket_id, func.sum(case((is_res, ev.business_seconds))).label("rb"),
                   func.sum(case((is_res, ev.calendar_seconds))).label("rc"),
                   _count(ev.kind == "reopen").label("reopens"))
            .join(SlaClockRow, and_(SlaClockRow.ticket_id == ev.ticket_id, SlaClockRow.generation == ev.generation))
            .where(ev.ticket_id.in_(resolved), ev.metric == "resolution")
            .group_by(ev.ticket_id).having(_count(ev.kind.in_(["fulfil", "reopen"])) > 0)).cte("per_request")


def _measure(name: str) -> ColumnElement[str]:
    return literal_column(f"'{name}'", String).label("m")


_SUMMED = ("created", "resolved", "backlog", "breached_open", "reopened", "reopens", "repeat_base", "repeats", "repeat_messages",
           "worked_hours")


def _fill(session: Session, t: Any, n: int, period: Period, cut: datetime, config: KpiConfig, csat: CsatSource | None,
          metrics: frozenset[str], *, with_total: bool = False,
          load: _Groups | None = None) -> tuple[list[KpiRow], KpiRow]:
    """The figures of `metrics` per group of the `n` keys of `t`, and their total (counts
    summed; percentiles ranked again over every group's values, in the same query).

    `load` (`t` made ``with_agent``): also the agent load into it, keyed ``(agent,)`` — the
    counts, reopens and hours per group *and* assignee, added up both ways in Python (a few
    rows per group), where a second report by agent passed over the store again."""
    keys = [t.c[f"g{i}"] for i in range(n)]
    names = [f"g{i}" for i in range(n)]
    rows, total = _Groups(), KpiRow((TOTAL,))

    def each(query: Any) -> Iterable[tuple[KpiRow, Any]]:
        for r in session.execute(query):
            yield rows(_key(r, n)), r

    at = literal(cut, UTCDateTime())
    finished = func.coalesce(t.c.resolved_at, t.c.closed_at)
    open_at_cut = and_(t.c.created_at < at, t.c.status != "cancelled",
                       or_(t.c.status.in_(_OPEN), finished.is_(None), finished >= at))
    dialect = session.get_bind().dialect.name
    touching = _touching(t, period, cut, dialect)
    resolved_in = _in(t.c.resolved_at, period)
    by_agent = [t.c.agent] if load is not None else []
    m = n + len(by_agent)  # where the figures start

    def both(got: Any) -> list[KpiRow]:  # the group's row and, with `load`, the assignee's
        return [rows(_key(got, n)), load((str(got[n]),))] if load is not None else [rows(_key(got, n))]

    # 1. one pass over the requests: what was opened, resolved, open at the cut, open past due
    counts = select(*keys, *by_agent, _count(_in(t.c.created_at, period)), _count(resolved_in), _count(open_at_cut),
                    _count(and_(open_at_cut, t.c.sla_breached.is_(True)))).where(touching).group_by(*keys, *by_agent)
    for got in session.execute(counts):
        created, resolved, backlog, breached_open = (int(x or 0) for x in got[m:m + 4])
        for row in both(got):
            row.created, row.resolved = row.created + created, row.resolved + resolved
            row.backlog, row.breached_open = row.backlog + backlog, row.breached_open + breached_open
    per = _per_request(period)
    # on PostgreSQL the reopens, hours and cost come with the resolution's percentiles, in
    # one statement (``_ranked_with_sums``): the resolved requests' ledger is read once
    summed_with_ranks = (dialect == "postgresql" and load is not None
                         and {"reopen", "cost", "resolution"} <= metrics)
    # 2. the resolved requests' ledger: reopens, business hours worked, their cost
    if metrics & {"reopen", "cost"} and not summed_with_ranks:
        query = (select(*keys, *by_agent, _count(per.c.reopens > 0), func.sum(per.c.reopens),
                        func.sum(per.c.rb) / 3600.0, func.sum(per.c.rb * t.c.rate) / 3600.0)
                 .join(per, per.c.ticket_id == t.c.id).where(resolved_in).group_by(*keys, *by_agent))
        for got in session.execute(query):
            for row in both(got):
                row.reopened, row.reopens = row.reopened + int(got[m] or 0), row.reopens + int(got[m + 1] or 0)
                row.worked_hours += float(got[m + 2] or 0.0)
                if got[m + 3] is not None:
                    row.cost_total = (row.cost_total or 0.0) + float(got[m + 3])
    # 3. the durations ranked: first response and resolution in one query (business and
    # calendar seconds side by side), backlog age in another (calendar only: one ranking,
    # where sharing the first query's two cost a second sort of every open request's age)
    measures: list[Any] = []
    if "first_response" in metrics:
        ev = SlaEventRow
        fr = (select(ev.ticket_id, ev.business_seconds, ev.calendar_seconds)
              .join(SlaClockRow, and_(SlaClockRow.ticket_id == ev.ticket_id, SlaClockRow.generation == ev.generation))
              .where(ev.kind == "fulfil", _in(ev.at, period), ev.metric == "first_response", ev.cycle == 1)).subquery()
        measures.append(select(*keys, _measure("fr"), fr.c.business_seconds.label("b"), fr.c.calendar_seconds.label("c"))
                        .join(fr, fr.c.ticket_id == t.c.id))
    if summed_with_ranks:  # every resolved request, a reopened one without a fulfilment too: its b is NULL
        measures = [q.add_columns(t.c.agent, null().cast(Integer).label("reopens"), null().cast(Float).label("rate"))
                    for q in measures]
        measures.append(select(*keys, _measure("res"), per.c.rb.label("b"), per.c.rc.label("c"), t.c.agent,
                               per.c.reopens, t.c.rate)
                        .join(per, per.c.ticket_id == t.c.id).where(resolved_in))
    elif "resolution" in metrics:
        measures.append(select(*keys, _measure("res"), per.c.rb.label("b"), per.c.rc.label("c"))
                        .join(per, per.c.ticket_id == t.c.id).where(resolved_in, per.c.rb.is_not(None)))
    if "backlog" in metrics:
        age = epoch(at) - epoch(t.c.created_at)
        ages = [select(*keys, _measure("age"), age.label("b")).where(touching, open_at_cut)]
        _rank_all(session, ages, ["b"], names, n, rows, total if with_total else None)
    if measures and summed_with_ranks and load is not None:
        _ranked_with_sums(session, measures, names, n, rows, total if with_total else None, load)
    elif measures:
        _rank_all(session, measures, ["b", "c"], names, n, rows, total if with_total else None)
    if "sla" in metrics:
        ev = SlaEventRow
        cycles = (select(ev.ticket_id, ev.metric, ev.cycle,
                         func.max(case((ev.kind == "fulfil", ev.at))).label("ended"),
                         func.max(case((ev.kind == "breach", 1), else_=0)).label("breached"))
                  .join(SlaClockRow, and_(SlaClockRow.ticket_id == ev.ticket_id, SlaClockRow.generation == ev.generation))
                  .where(ev.ticket_id.in_(_ended_in(period)), ev.metric.in_(METRICS))  # kinds by CASE: see _per_request
                  .group_by(ev.ticket_id, ev.metric, ev.cycle)).subquery()
        query = (select(*keys, cycles.c.metric, func.count(), func.sum(cycles.c.breached))
                 .join(cycles, cycles.c.ticket_id == t.c.id)
                 .where(cycles.c.ended.is_not(None), _in(cycles.c.ended, period)).group_by(*keys, cycles.c.metric))
        for row, r in each(query):
            row.sla[r[n]] = Compliance(r[n + 1], r[n + 1] - int(r[n + 2] or 0))
    if "repeat" in metrics:
        _repeats(session, t, keys, period, config.repeat_within_days, each)
    ratings: dict[tuple[str, ...], float] = {}
    if "csat" in metrics and csat is not None:
        surveys = csat()
        query = (select(*keys, func.count(), func.count(surveys.c.rating), func.sum(surveys.c.rating))
                 .join(surveys, surveys.c.ticket_id == t.c.id).where(resolved_in).group_by(*keys))
        for row, r in each(query):
            row.csat_surveys, row.csat_answered = r[n], r[n + 1]
            ratings[row.key] = float(r[n + 2] or 0)
            row.csat_score = ratings[row.key] / r[n + 1] if r[n + 1] else None
        for row in [*rows.rows.values(), total]:
            if row.csat_surveys is None:
                row.csat_surveys, row.csat_answered = 0, 0
    # a group with nothing in the period (every request of it older, nothing open) is left out
    found = [r for k in sorted(rows.rows) if (r := rows.rows[k]).created or r.resolved or r.backlog or r.sla
             or r.first_response.n or r.repeat_messages]
    if with_total:
        _sum_into(total, found, ratings)
    return found, total


def _loaded(agents: _Groups) -> list[KpiRow]:
    """The agent load's rows, by name: the assignees with a request opened, resolved or open."""
    return [r for k in sorted(agents.rows) if (r := agents.rows[k]).created or r.resolved or r.backlog]


def _rank_all(session: Session, measures: list[Any], ranked: list[str], names: list[str], n: int, rows: _Groups,
              total: KpiRow | None) -> None:
    """Median and p90 of the `ranked` columns (``b``, ``c``) of every measure per group (and
    over all groups into `total`)."""
    values = union_all(*measures).cte("vals")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":  # the total in the same pass: GROUPING SETS ((keys, m), (m))
        query = percentiles(values, [*names, "m"], ranked, dialect, also_by=["m"] if total is not None else None)
        if total is None:
            query = query.add_columns(literal_column("0").label("whole"))
    else:
        source: Any = select(*(values.c[k] for k in names), literal_column("0").label("whole"), values.c.m,
                             *(values.c[v] for v in ranked))
        if total is not None:  # the same values again under one key: the total's percentiles
            source = union_all(source, select(*(literal_column("''", String).label(k) for k in names),
                                              literal_column("1").label("whole"), values.c.m,
                                              *(values.c[v] for v in ranked)))
        query = percentiles(source.subquery("measured"), [*names, "whole", "m"], ranked, dialect)
    found: dict[tuple[tuple[str, ...], int], dict[str, Any]] = {}
    for r in session.execute(query):
        found.setdefault((_key(r, n), int(r.whole)), {})[r.m] = r
    for (key, whole), got in found.items():
        row = total if whole and total is not None else rows(key)
        for m in ("fr", "res"):
            if m in got:
                _set_times(row, got[m])
        if "age" in got:
            row.backlog_age_median, row.backlog_age_p90 = got["age"].b_median, got["age"].b_p90


def _ranked_with_sums(session: Session, measures: list[Any], names: list[str], n: int, rows: _Groups,
                      total: KpiRow | None, load: _Groups) -> None:
    """PostgreSQL: what ``_rank_all`` gives for first response and resolution and, in the
    same statement, the resolved requests' reopens, business hours worked and cost per
    group and per group and assignee (the agent load) — the figures step 2 of ``_fill``
    reads in a statement of its own elsewhere. The period's resolved requests' ledger
    (``per_request``) is read once instead of twice (0.56 of the server's 3.3 CPU s at
    1,000,000 requests). ``GROUPING SETS`` ((keys, m), (m), (keys, agent, m)); the
    percentiles and their ``n`` skip the NULL durations of requests reopened without a
    fulfilment, which count in the sums only."""
    v = union_all(*measures).cte("vals")
    keys, m, agent = [v.c[k] for k in names], v.c.m, v.c.agent
    sets = func.grouping_sets(tuple_(*keys, m), tuple_(m), tuple_(*keys, agent, m))
    query = select(*keys, agent, m, func.grouping(*keys).label("whole"), func.grouping(agent).label("all_agents"),
                   func.count(v.c.b).label("n"), *percentile_discs(v, ["b", "c"]), func.count().filter(v.c.reopens > 0).label("reopened"),
                   func.sum(v.c.reopens).label("reopens"), (func.sum(v.c.b) / 3600.0).label("hours"),
                   (func.sum(v.c.b * v.c.rate) / 3600.0).label("cost")).group_by(sets)
    for r in session.execute(query):
        resolved = r.m == "res"
        if r.whole:  # (m): the total's percentiles; its sums are the groups' (``_sum_into``)
            if total is not None:
                _set_times(total, r)
            continue
        if not r.all_agents:  # (keys, agent, m): the agent load's sums
            targets = [load((str(r.agent),))] if resolved else []
        else:
            row = rows(_key(r, n))
            _set_times(row, r)
            targets = [row] if resolved else []
        for row in targets:
            row.reopened, row.reopens = row.reopened + int(r.reopened or 0), row.reopens + int(r.reopens or 0)
            row.worked_hours += float(r.hours or 0.0)
            if r.cost is not None:
                row.cost_total = (row.cost_total or 0.0) + float(r.cost)


def _set_times(row: KpiRow, r: Any) -> None:
    """A ranked row's percentiles onto `row` (``fr``: first response, ``res``: resolution)."""
    if r.n:
        setattr(row, "first_response" if r.m == "fr" else "resolution", Times(r.n, r.b_median, r.b_p90, r.c_median, r.c_p90))


def _sum_into(total: KpiRow, rows: list[KpiRow], ratings: dict[tuple[str, ...], float]) -> None:
    for name in _SUMMED:
        setattr(total, name, sum(getattr(r, name) for r in rows))
    costs = [r.cost_total for r in rows if r.cost_total is not None]
    total.cost_total = sum(costs) if costs else None
    for metric in METRICS:
        parts = [r.sla[metric] for r in rows if metric in r.sla]
        if parts:
            total.sla[metric] = Compliance(sum(p.ended for p in parts), sum(p.met for p in parts))
    if any(r.csat_surveys for r in rows):
        total.csat_surveys = sum(r.csat_surveys or 0 for r in rows)
        total.csat_answered = sum(r.csat_answered or 0 for r in rows)
        total.csat_score = sum(ratings.values()) / total.csat_answered if total.csat_answered else None


def topic() -> ColumnElement[str]:
    """A request's topic for repeat contacts: type + normalised subject (module docstring)."""
    subject = func.lower(func.trim(TicketRow.subject))
    for prefix in ("re:", "fwd:", "fw:"):
        subject = func.replace(subject, prefix, "")
    return TicketRow.type + literal("|") + func.trim(subject)


def _repeats(session: Session, t: Any, keys: list[Any], period: Period, days: int, each: Any) -> None:
    window = timedelta(days=days)
    previous = func.lag(TicketRow.created_at).over(partition_by=[TicketRow.customer_id, topic()],
                                                   order_by=[TicketRow.created_at, TicketRow.id])
    # only requests that can be in the period or be the earlier contact of one
    history = (select(TicketRow.id, TicketRow.created_at, previous.label("prev"))
               .where(TicketRow.deleted.is_(False), TicketRow.customer_id.is_not(None),
                      TicketRow.created_at >= period.start - window, TicketRow.created_at < period.end)).subquery()
    is_repeat = case((epoch(history.c.created_at) - epoch(history.c.prev) <= window.total_seconds() + 0.5, 1), else_=0)
    query = (select(*keys, func.count(), func.sum(is_repeat)).join(history, history.c.id == t.c.id)
             .where(_in(t.c.created_at, period)).group_by(*keys))
    for row, r in each(query):
        row.repeat_base, row.repeats = r[len(keys)], int(r[len(keys) + 1] or 0)
    # intake's repeat contacts: no new request, a customer message marked ``repeat`` joined an
    # open one (intake/README.md); each is a contact and a repeat, in its request's group
    ev = TicketEventRow
    marked = (select(ev.ticket_id, func.count().label("n"))
              .where(ev.kind == "message", _in(ev.at, period), ev.data["repeat"].as_boolean().is_(True))
              .group_by(ev.ticket_id)).subquery()
    query = select(*keys, func.sum(marked.c.n)).join(marked, marked.c.ticket_id == t.c.id).group_by(*keys)
    for row, r in each(query):
        n = int(r[len(keys)] or 0)
        row.repeat_base, row.repeats, row.repeat_messages = row.repeat_base + n, row.repeats + n, n


def kpi_report(session: Session, period: Period, now: datetime, config: KpiConfig, *, by: tuple[str, ...] = (),
               filters: Filters = ANY, csat: CsatSource | None = None) -> KpiReport:
    """Every KPI of the requests that pass `filters`, per group of `by` (dimension names,
    see ``DIMENSIONS``) and in total, for `period`; the backlog is read at ``period.cut(now)``.

    Raises:
        UnknownDimension: a name of `by` is not a dimension (the message suggests one).
    """
    with _settings(session):
        cut = period.cut(now)
        agents = _Groups()
        if by:
            rows, total = _fill(session, _requests(by, filters, config, with_agent=True), len(by), period, cut, config,
                                csat, _EVERY, with_total=True, load=agents)
            total.key = (TOTAL, *[""] * (len(by) - 1))  # as wide as the rows: tables and files line up
        else:
            rows, total = _fill(session, _requests((), filters, config, with_agent=True), 1, period, cut, config, csat,
                                _EVERY, with_total=True, load=agents)
            rows = []
        volume: dict[str, dict[str, int]] = {"channel": {}, "source": {}}
        t = _requests(("channel", "source"), filters, config)  # one pass for both, added up each way
        for channel, source, opened in session.execute(select(t.c.g0, t.c.g1, func.count())
                                                       .where(_in(t.c.created_at, period)).group_by(t.c.g0, t.c.g1)):
            for name, key in (("channel", str(channel)), ("source", str(source))):
                volume[name][key] = volume[name].get(key, 0) + int(opened)
        load = _loaded(agents)
    return KpiReport(period, by, filters, rows, total, volume, load,
                     config.cost.currency if config.cost.configured else None, config.repeat_within_days, csat is not None)


def compliance_and_load(session: Session, period: Period, now: datetime, config: KpiConfig, *,
                        filters: Filters = ANY) -> tuple[KpiRow, list[KpiRow]]:
    """What the dashboard's charts need, without the rest of ``kpi_report``: the total's SLA
    compliance per target (cycles ended in `period`) and per agent the backlog at
    ``period.cut(now)`` (keys ``(agent,)``, ``—`` for nobody's), of the requests `filters` keeps."""
    with _settings(session):
        cut = period.cut(now)
        agents = _Groups()
        _, total = _fill(session, _requests((), filters, config, with_agent=True), 1, period, cut, config, None,
                         frozenset({"sla"}), with_total=True, load=agents)
    return total, _loaded(agents)


SLA_BY = ("customer", "contract", "policy")


def sla_report(session: Session, period: Period, now: datetime, config: KpiConfig, *,
               customer: str | None = None) -> list[KpiRow]:
    """Per customer, contract and SLA policy: requests opened, each target's compliance
    (cycles ended in the period), resolution times and requests open past their due time
    (at the period's end). Rows with nothing in the period are left out."""
    with _settings(session):
        t = _requests(SLA_BY, Filters(customer=customer), config)
        rows, _ = _fill(session, t, len(SLA_BY), period, period.cut(now), config, None, frozenset({"sla", "resolution"}))
    return [r for r in rows if r.created or r.sla or r.resolved or r.breached_open]
