"""The append-only SLA ledger: what the clocks decided, and when, per request.

``record`` compares a fresh evaluation with the newest generation in the ledger. Events
that are new (time moved on: a warning, a breach, a resume) are appended. If the ledger
holds events the evaluation no longer produces — a policy or calendar was edited, a late
fact arrived — nothing is rewritten: a ``recalculate`` event and the whole new story are
appended under the next generation, so every past decision stays explainable. A plan made
for a reason (a calendar change) that moves a due date but no past event appends a
``replan`` row with the reason and the dates before and after.

Compact rows: a cycle opening is one clock change, so its ``activate`` and ``apply_policy``
events (same metric, cycle and instant, nothing used yet) are stored as one
``apply_policy`` row marked ``"opens": true`` in its data. ``expand`` gives them back as
the two events they were, and every reader (``newest``, ``state_from_ledger``, ``sla
explain``) reads through it, so rows written before the compact form (an ``activate``
row of their own) read as they always did. A request's metrics usually open together (first
response and resolution at its creation, on one policy): two such openings side by side
whose data differ in the target alone are one row, the later metric's, naming the earlier
one and its target (``"opens_also"``, ``"opens_also_target_seconds"``); ``expand`` gives
back all four events in their order. Likewise a warning followed by its breach
(same metric and cycle, nothing between them in the story) is one ``breach`` row whose
data holds the warning (``"warned": [microseconds before the breach, business seconds,
calendar seconds]``): the two are one stretch of a clock, and KPIs read the breach row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from crm_bridge.store.records import among, in_chunks
from crm_bridge.store.types import UTCDateTime
from sla.clock import Evaluation, SlaEvent
from sla.tables import SlaEventRow

__all__ = ["NOT_DECISIONS", "LedgerRow", "LedgerState", "StoredEvent", "event_key", "expand", "insert_events", "newest", "record",
           "state_from_ledger"]

EventKey = tuple[str, int, str, str, str]
#: Rows that say why the story was told again, not what the clocks decided: ``recalculate``
#: opens a new generation; ``replan`` says a plan made for a reason (a calendar change) moved
#: a due date without changing a past event.
NOT_DECISIONS = ("recalculate", "replan")


def event_key(metric: str, cycle: int, kind: str, at: datetime, data: dict[str, Any]) -> EventKey:
    """Identity of an event: what happened, when, and with which policy, target, level."""
    return (metric, cycle, kind, at.astimezone(UTC).isoformat(timespec="seconds"),
            json.dumps(_jsonable(data), sort_keys=True, ensure_ascii=False))


class StoredEvent(Protocol):
    """What comparing with the ledger reads of a stored event (a ledger row or ``newest``'s tuple)."""

    @property
    def generation(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def cycle(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


_OPENS = "opens"  # data key of a compact row: this apply_policy opened its cycle (an activate before it)
#: data keys of a compact opening row that also opens another metric's cycle at the same
#: instant on the same policy: that metric, and its target (the rest of its data is this row's)
_ALSO, _ALSO_TARGET = "opens_also", "opens_also_target_seconds"
_WARNED = "warned"  # data key of a compact row: this breach had a warning just before it
_US = timedelta(microseconds=1)


class LedgerRow(NamedTuple):
    """A ledger event as stored, or one of the two a compact row stands for."""

    ticket_id: int
    generation: int
    metric: str
    cycle: int
    kind: str
    at: datetime
    business_seconds: float
    calendar_seconds: float
    data: dict[str, Any]


def expand(rows: Iterable[Any]) -> Iterator[Any]:
    """Stored ledger rows (row objects or tuples with their columns) as the events they
    stand for: a compact opening row becomes its ``activate`` and ``apply_policy`` events,
    a compact breach row its ``warn`` and ``breach`` events; any other row is passed
    through as it is."""
    for row in rows:
        kind = row.kind
        if kind == "apply_policy" and row.data.get(_OPENS):
            data = {k: v for k, v in row.data.items() if k not in _COMPACT_KEYS}
            also = row.data.get(_ALSO)
            if also is not None:  # the other metric's opening came first: its target in place of this row's
                first = {k: (row.data[_ALSO_TARGET] if k == "target_seconds" else v) for k, v in data.items()}
                head = (row.ticket_id, row.generation, also, row.cycle)
                yield LedgerRow(*head, "activate", row.at, 0.0, 0.0, {})
                yield LedgerRow(*head, "apply_policy", row.at, 0.0, 0.0, first)
            head = (row.ticket_id, row.generation, row.metric, row.cycle)
            yield LedgerRow(*head, "activate", row.at, 0.0, 0.0, {})
            yield LedgerRow(*head, "apply_policy", row.at, 0.0, 0.0, data)
        elif kind == "breach" and _WARNED in row.data:
            before, business, calendar = row.data[_WARNED]
            data = {k: v for k, v in row.data.items() if k != _WARNED}
            head = (row.ticket_id, row.generation, row.metric, row.cycle)
            yield LedgerRow(*head, "warn", row.at - before * _US, business, calendar, {})
            yield LedgerRow(*head, "breach", row.at, row.business_seconds, row.calendar_seconds, data)
        else:
            yield row


def _compact(rows: list[dict[str, Any]], first: int) -> None:
    """Fold, from `first` on, each ``activate`` row with the ``apply_policy`` row that
    opens the same cycle at the same instant, two such openings of different metrics side
    by side that differ in their target alone, and each ``warn`` row (no data) with the
    ``breach`` row of the same cycle right after it, into one compact row each (see the
    module's docstring)."""
    i = first
    while i < len(rows) - 1:
        row, after = rows[i], rows[i + 1]
        kind, next_kind = row["kind"], after["kind"]
        if (kind == "activate" and next_kind == "apply_policy" and after["business_seconds"] == 0.0
                and (row["metric"], row["cycle"], row["at"]) == (after["metric"], after["cycle"], after["at"])):
            after["data"] = {**after["data"], _OPENS: True}
            del rows[i]
            if i > first and _opens_alike(rows[i - 1], after):
                i -= 1  # the opening before it and this one are one change of the request: one row
                row, after = rows[i], rows[i + 1]
                after["data"] = {**after["data"], _ALSO: row["metric"], _ALSO_TARGET: row["data"]["target_seconds"]}
                del rows[i]
        elif (kind == "warn" and next_kind == "breach" and not row["data"] and _WARNED not in after["data"]
              and (row["metric"], row["cycle"]) == (after["metric"], after["cycle"])):
            # a tuple (JSON writes it as the same array): it keeps the data a key of insert_events' cache
            after["data"] = {**after["data"], _WARNED: ((after["at"] - row["at"]) // _US, row["business_seconds"],
                                                        row["calendar_seconds"])}
            del rows[i]
        i += 1


_COMPACT_KEYS = frozenset((_OPENS, _ALSO, _ALSO_TARGET))


def _opens_alike(row: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether `row` and `after` are compact openings of two metrics' cycles at the same
    instant whose data differ in the target alone (one policy opened both): ``after`` can
    carry `row` (``opens_also``) and ``expand`` gives back both, in their order."""
    if row["kind"] != "apply_policy" or row["metric"] == after["metric"] or (row["cycle"], row["at"]) != (
            after["cycle"], after["at"]):
        return False
    mine, theirs = row["data"], after["data"]
    return (mine.get(_OPENS) is True and _ALSO not in mine and _ALSO not in theirs and len(mine) == len(theirs)
            and "target_seconds" in theirs and all(k in theirs and theirs[k] == v for k, v in mine.items() if k != "target_seconds"))


def _row_key(row: StoredEvent) -> EventKey:
    return event_key(row.metric, row.cycle, row.kind, row.at, row.data)


def _jsonable(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    if isinstance(data, datetime):
        return data.isoformat()
    if isinstance(data, timedelta):
        return data.total_seconds()
    return data


class _EncodedJSON(TypeDecorator[Any]):
    """A JSON column whose values arrive encoded already (``insert_events`` encodes each
    distinct data once): the driver gets the text, PostgreSQL still casts it to JSON."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


#: ``sla_events`` as ``insert_events`` writes it: the same columns, ``data`` as JSON text.
_LEDGER = Table("sla_events", MetaData(), Column("ticket_id", Integer), Column("generation", Integer),
                Column("metric", String(30)), Column("cycle", Integer), Column("kind", String(30)), Column("at", UTCDateTime),
                Column("business_seconds", Float), Column("calendar_seconds", Float), Column("data", _EncodedJSON),
                Column("recorded", UTCDateTime))
#: as the store's engine encodes JSON (``crm_bridge.store.engine``), so a row reads back the same
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_STORED = (SlaEventRow.ticket_id, SlaEventRow.generation, SlaEventRow.metric, SlaEventRow.cycle, SlaEventRow.kind,
           SlaEventRow.at, SlaEventRow.business_seconds, SlaEventRow.calendar_seconds, SlaEventRow.data)


def newest(session: Session, ticket_ids: Sequence[int]) -> dict[int, list[StoredEvent]]:
    """The newest generation's events of each ticket (one query per 500 tickets), as plain
    tuples: a request re-planned after an edit has a dozen or more, read to be compared."""
    found: dict[int, list[StoredEvent]] = {tid: [] for tid in ticket_ids}
    for chunk in in_chunks(ticket_ids):
        for row in session.execute(select(*_STORED).where(among(session, SlaEventRow.ticket_id, chunk)).order_by(SlaEventRow.id)):
            rows = found[row.ticket_id]
            if rows and row.generation > rows[0].generation:
                rows.clear()
            rows.extend(expand((row,)))
    return found


def record(session: Session, ticket_id: int, evaluation: Evaluation, *, reason: str = "",
           stored: Sequence[StoredEvent] | None = None, sink: list[dict[str, Any]] | None = None) -> tuple[int, list[SlaEvent]]:
    """Append what is new; returns (generation, the events appended in this call).

    `stored` is the ticket's newest generation when the caller fetched it in bulk; with a
    `sink`, the new rows are collected there for one bulk INSERT (``insert_events``)
    instead of being added to the session one object each.
    """
    rows: list[dict[str, Any]] = [] if sink is None else sink
    first = len(rows)
    if stored is None:
        stored = newest(session, [ticket_id])[ticket_id]
    generation = stored[0].generation if stored else 1
    have = {_row_key(r) for r in stored if r.kind not in NOT_DECISIONS}
    # With nothing stored (a new request) there is nothing to compare: no keys to build.
    fresh: dict[Any, SlaEvent] = ({event_key(e.metric, e.cycle, e.kind, e.at, dict(e.data)): e for e in evaluation.events}
                                  if stored else dict(enumerate(evaluation.events)))
    appended: list[SlaEvent] = []
    if stored and not have <= set(fresh):
        generation += 1
        rows.append({"ticket_id": ticket_id, "generation": generation, "metric": "all", "cycle": 0, "kind": "recalculate",
                     "at": max(e.at for e in evaluation.events) if evaluation.events else stored[-1].at,
                     "business_seconds": 0.0, "calendar_seconds": 0.0,
                     "data": {"reason": reason or "the history evaluates differently now", "replaces_generation": generation - 1}})
        have = set()
    for key, event in fresh.items():
        if key in have:
            continue
        rows.append({"ticket_id": ticket_id, "generation": generation, "metric": event.metric, "cycle": event.cycle,
                     "kind": event.kind, "at": event.at, "business_seconds": event.business.total_seconds(),
                     "calendar_seconds": event.calendar.total_seconds(), "data": event.data})
        appended.append(event)
    _compact(rows, first)
    if sink is None:
        insert_events(session, rows)
    return generation, appended


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append ledger rows in one ``executemany`` (no object per row), the driver's
    parameters built here as plain tuples. Each distinct ``data`` is JSON-encoded once:
    most rows of a chunk repeat a few (``{}`` of a fulfilment, a policy's opening, an
    escalation level)."""
    if not rows:
        return
    connection = session.connection()
    sql, names, at_text = _insert_plan(connection.dialect)
    encoded: dict[Any, str] = {}
    recorded = at_text(datetime.now(UTC))
    params: list[Any] = []
    for row in rows:
        data = row["data"]
        text: str | None = "{}"
        if data:
            try:
                # the types too: 1, 1.0 and True are equal keys but three different JSON texts
                key: Any = (tuple(data.items()), tuple(map(type, data.values())))
                text = encoded.get(key)
            except TypeError:  # a value that is not hashable (a list): encoded as it is
                key, text = None, None
            if text is None:
                text = _ENCODE(_jsonable(dict(data)))
                if key is not None:
                    encoded[key] = text
        params.append((row["ticket_id"], row["generation"], row["metric"], row["cycle"], row["kind"], at_text(row["at"]),
                       row["business_seconds"], row["calendar_seconds"], text, recorded))
    if names is not None:  # a driver of named parameters (psycopg)
        params = [dict(zip(names, values, strict=True)) for values in params]
    connection.exec_driver_sql(sql, params)


_PLANS: dict[str, tuple[str, tuple[str, ...] | None, Callable[[datetime], Any]]] = {}


def _insert_plan(dialect: Dialect) -> tuple[str, tuple[str, ...] | None, Callable[[datetime], Any]]:
    """(the INSERT for `dialect`, its parameter names if the driver takes them by name, the
    instant's conversion for the driver), compiled once per dialect."""
    plan = _PLANS.get(dialect.name)
    if plan is None:
        compiled = insert(_LEDGER).compile(dialect=dialect)
        keys = tuple(c.key for c in _LEDGER.columns)
        if compiled.positional:
            if tuple(compiled.positiontup or ()) != keys:
                msg = f"sla_events INSERT binds {compiled.positiontup}, expected {keys}"
                raise RuntimeError(msg)
            names = None
        else:
            names = keys
        process = _LEDGER.c.at.type.bind_processor(dialect)
        plan = _PLANS[dialect.name] = (str(compiled), names, process if process is not None else _same)
    return plan


def _same(value: datetime) -> datetime:
    return value


@dataclass(frozen=True)
class LedgerState:
    """What the newest generation of the ledger says about each metric's latest cycle."""

    metric: str
    cycle: int
    last_kind: str
    breached: bool
    paused: bool
    ended: bool


def state_from_ledger(session: Session, ticket_id: int) -> dict[str, LedgerState]:
    generation = session.scalar(select(func.max(SlaEventRow.generation)).where(SlaEventRow.ticket_id == ticket_id)) or 1
    rows = session.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket_id, SlaEventRow.generation == generation,
                                                     SlaEventRow.kind.not_in(NOT_DECISIONS)).order_by(SlaEventRow.at, SlaEventRow.id))
    latest: dict[str, list[Any]] = {}
    for row in expand(rows):
        current = latest.get(row.metric)
        if current is None or row.cycle > current[0].cycle:
            latest[row.metric] = [row]
        elif row.cycle == current[0].cycle:
            current.append(row)
    out: dict[str, LedgerState] = {}
    for metric, events in latest.items():
        kinds = [e.kind for e in events]
        last_pause = max((i for i, k in enumerate(kinds) if k == "pause"), default=-1)
        last_resume = max((i for i, k in enumerate(kinds) if k == "resume"), default=-1)
        out[metric] = LedgerState(metric, events[0].cycle, kinds[-1], "breach" in kinds,
                                  paused=last_pause > last_resume, ended=bool({"fulfil", "stop"} & set(kinds)))
    return out
