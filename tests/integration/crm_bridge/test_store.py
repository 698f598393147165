"""The store on both supported databases: migrations, constraints, aware datetimes."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from crm_bridge.addons import discover, resolve_order
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.engine import new_id, open_store
from crm_bridge.store.migrate import current_heads, pending, upgrade
from crm_bridge.store.records import build_record, create_record, record_values, update_record
from crm_bridge.store.tables import TicketRow, core_table
from crm_bridge.store.types import UTCDateTime
from sla.tables import SlaEventRow
from sync.tables import BindingRow

ADDON_PATHS = [a.path for a in resolve_order(discover())]


def test_upgrade_creates_every_addons_tables_and_is_idempotent(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert pending(store, ADDON_PATHS)
        upgrade(store, ADDON_PATHS)
        upgrade(store, ADDON_PATHS)  # a second run changes nothing and does not fail
        assert {"tickets", "customers", "ticket_events", "bindings", "outbox", "checkpoints", "sync_runs", "notify_outbox", "rest_pings"} <= store.tables()
        from alembic.script import ScriptDirectory

        from crm_bridge.store.migrate import alembic_config

        heads = set(ScriptDirectory.from_config(alembic_config(store, ADDON_PATHS)).get_heads())
        assert current_heads(store) == heads  # the newest revision of every addon's branch
        assert {h.split("_")[0] for h in heads} == {"core", "sync", "sla", "routing", "notify", "rest", "kpi", "csat", "intake"}
        assert pending(store, ADDON_PATHS) == []
    finally:
        store.close()


def test_instants_come_back_aware_and_equal_whatever_zone_went_in(store_url: str) -> None:
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    moscow = timezone(timedelta(hours=3))
    opened = datetime(2026, 3, 9, 10, 30, 15, tzinfo=moscow)
    try:
        with store.transaction() as s:
            ticket_id = create_record(s, "ticket", {"number": "CRM-1", "created_at": opened, "type": "urgent"})
        with store.transaction() as s:
            row = s.get(TicketRow, ticket_id)
            assert row is not None
            assert row.created_at == opened
            assert row.created_at.tzinfo is not None
            assert row.created_at.utcoffset() == timedelta(0)
            assert row.type == "urgent"
    finally:
        store.close()


def test_sqlite_keeps_instants_as_the_utc_text_sqlalchemy_writes_so_sql_comparisons_hold(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(store, ADDON_PATHS)
    table = core_table(TicketRow)
    moscow = timezone(timedelta(hours=3))
    instants = [datetime(2026, 3, 9, 1, 30, tzinfo=moscow),  # the day before, in UTC
                datetime(2026, 3, 9, 10, 30, 15, 7, tzinfo=moscow), datetime(999, 1, 1, tzinfo=UTC)]
    try:
        with store.transaction() as s:
            s.execute(insert(table), [{"number": f"T-{i}", "type": "other", "priority": "normal", "channel": "phone",
                                       "source": "external", "status": "new", "created_at": at, "tags": [],
                                       "sla_breached": False, "deleted": False}
                                      for i, at in enumerate(instants)])
        with store.transaction() as s:
            stored = s.execute(text("SELECT number, created_at FROM tickets ORDER BY number")).all()
            assert [at for _, at in stored] == ["2026-03-08 22:30:00.000000", "2026-03-09 07:30:15.000007",
                                               "0999-01-01 00:00:00.000000"]
            # a bound instant compares as text with what is stored: the same format both ways
            later = s.scalars(select(TicketRow.number).where(TicketRow.created_at > datetime(2026, 3, 9, 3, 0, tzinfo=moscow)))
            assert list(later) == ["T-1"]
            assert s.scalar(select(TicketRow.created_at).where(TicketRow.number == "T-1")) == instants[1]
    finally:
        store.close()


def test_naive_datetime_is_refused_before_it_reaches_the_database(store_url: str) -> None:
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    try:
        with pytest.raises(ValueError, match="naive datetime"), store.transaction() as s:
            create_record(s, "ticket", {"number": "CRM-2", "created_at": datetime(2026, 1, 1, 12, 0)})  # noqa: DTZ001
        with pytest.raises(StatementError, match="naive datetime"), store.transaction() as s:
            s.add(TicketRow(number="x", type="other", priority="normal", channel="phone", source="external",
                            status="new", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001
    finally:
        store.close()


def test_update_reports_only_what_really_changed(store_url: str) -> None:
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    at = datetime(2026, 5, 1, 9, tzinfo=UTC)
    try:
        with store.transaction() as s:
            tid = create_record(s, "ticket", {"number": "CRM-3", "created_at": at, "status": "new"})
        with store.transaction() as s:
            changed = update_record(s, "ticket", tid, {"status": "in_progress", "created_at": at, "number": "CRM-3"})
        assert changed == {"status": ("new", "in_progress")}
        with pytest.raises(ValueError, match="status"), store.transaction() as s:
            update_record(s, "ticket", tid, {"status": "half-done"})
    finally:
        store.close()


def test_one_binding_per_remote_record_is_enforced_by_the_database(store_url: str) -> None:
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    try:
        with store.transaction() as s:
            s.add(BindingRow(backend="crm", model="ticket", local_id=1, remote_id="r-1"))
        with pytest.raises(IntegrityError), store.transaction() as s:
            s.add(BindingRow(backend="crm", model="ticket", local_id=2, remote_id="r-1"))
        with store.transaction() as s:
            assert len(s.scalars(select(BindingRow)).all()) == 1
    finally:
        store.close()


def _modules_on_the_shared_metadata() -> list[str]:
    """Every module of the addons that puts a table or an index on the store's metadata
    (a class on ``Base``, or an ``Index``), found by its source."""
    root = Path(__file__).resolve().parents[3]
    found = []
    for path in sorted(root.glob("*/**/*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in {".venv", "tests", "benchmarks", "scripts", "docs"} or "migrations" in parts or "fixtures" in parts:
            continue
        text = path.read_text(encoding="utf-8")
        if "(Base):" in text or "Index(" in text:
            found.append(".".join(path.relative_to(root).with_suffix("").parts))
    return found


def test_migrations_create_exactly_the_tables_the_models_describe(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crm_bridge.store.tables import Base

    for module in _modules_on_the_shared_metadata():  # run alone, the test still sees every addon's tables
        importlib.import_module(module)

    store = open_store(store_url)
    try:
        upgrade(store, ADDON_PATHS)
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
        assert [d for d in diff if d[0] != "remove_table" or d[1].name != "alembic_version"] == []
    finally:
        store.close()


def test_ticket_tags_and_contract_round_trip(store_url: str) -> None:
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    try:
        with store.transaction() as s:
            tid = create_record(s, "ticket", {"number": "T-9", "created_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
                                              "tags": ["vip", "1С"], "contract": "ДС-2026/17"})
        with store.transaction() as s:
            row = s.get(TicketRow, tid)
            assert row is not None
            assert (row.tags, row.contract) == (["vip", "1С"], "ДС-2026/17")
    finally:
        store.close()


def test_bulk_insert_stores_exactly_what_sqlalchemys_insert_stores(store_url: str) -> None:
    """The driver-level executemany (ledger, bindings, outbox) against SQLAlchemy's own:
    the same stored text for instants and JSON, defaults filled, an explicit None kept."""
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    moscow = timezone(timedelta(hours=3))
    table = core_table(SlaEventRow)
    rows: list[dict[str, Any]] = [
        {"metric": "resolution", "cycle": 1, "kind": "breach", "at": datetime(2026, 3, 9, 1, 30, 0, 7, tzinfo=moscow),
         "business_seconds": 1.5, "calendar_seconds": 2.0, "data": {"policy": "Срочно \"VIP\"", "level": 2}},
        {"metric": "first_response", "cycle": 2, "kind": "warn", "at": datetime(2026, 3, 9, 12, 0, tzinfo=UTC),
         "business_seconds": 0.0, "calendar_seconds": 0.0, "generation": 3},  # no data: its default, {}
        {"metric": "all", "cycle": 0, "kind": "recalculate", "at": datetime(2026, 3, 10, tzinfo=UTC),
         "business_seconds": 0.0, "calendar_seconds": 0.0, "data": None},  # given None: stored as given
    ]
    try:
        with store.transaction() as s:
            first = create_record(s, "ticket", {"number": "CRM-1", "created_at": datetime(2026, 3, 9, tzinfo=UTC)})
            second = create_record(s, "ticket", {"number": "CRM-2", "created_at": datetime(2026, 3, 9, tzinfo=UTC)})
            # SQLAlchemy wants the same keys in every row: the values the sparse rows stand for
            s.execute(insert(table), [{"generation": 1, "data": {}, **r, "ticket_id": first} for r in rows])
            bulk_insert(s, table, [{**r, "ticket_id": second} for r in rows])
        with store.transaction() as s:
            columns = "generation, metric, cycle, kind, CAST(at AS TEXT), business_seconds, calendar_seconds, CAST(data AS TEXT)"
            stored = {tid: s.execute(text(f"SELECT {columns} FROM sla_events WHERE ticket_id = :t ORDER BY id"), {"t": tid}).all()
                      for tid in (first, second)}
            assert len(stored[second]) == 3
            plain = [tuple(r[:7]) for r in stored[first]]
            assert [tuple(r[:7]) for r in stored[second]] == plain
            assert [r[0] for r in stored[second]] == [1, 3, 1]  # the scalar default, and a value given
            # JSON is stored compactly, Cyrillic as it is, by both paths
            assert [r[7] for r in stored[second]] == [r[7] for r in stored[first]]
            assert stored[second][0][7] == '{"policy":"Срочно \\"VIP\\"","level":2}'
            assert stored[second][1][7] == "{}"
            loaded = [e.data for e in s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == second).order_by(SlaEventRow.id))]
            assert loaded == [{"policy": "Срочно \"VIP\"", "level": 2}, {}, None]
            recorded = s.scalars(select(SlaEventRow.recorded).where(SlaEventRow.ticket_id == second)).all()
            assert len(set(recorded)) == 1  # one statement, one time
            assert recorded[0].tzinfo is not None
        with pytest.raises(KeyError, match="sla_events has no column colour"), store.transaction() as s:
            bulk_insert(s, table, [{**rows[0], "ticket_id": first, "colour": "red"}])
        with pytest.raises(ValueError, match="naive datetime"), store.transaction() as s:
            bulk_insert(s, table, [{**rows[0], "ticket_id": first, "at": datetime(2026, 3, 9)}])  # noqa: DTZ001
        with store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(table)) == 6  # the refused statements stored nothing
    finally:
        store.close()


def test_bulk_insert_names_nulls_and_sql_defaults_as_sqlalchemy_would(store_url: str) -> None:
    """A column key the driver's parameters must escape, a JSON column a row leaves out
    (SQL NULL, not the JSON text 'null'), and a SQL-side default bulk_insert cannot render."""
    store = open_store(store_url)
    odd = Table("bulk_odd", MetaData(), Column("id", Integer, primary_key=True), Column("weird col", String(20)),
                Column("payload", JSON, nullable=True), Column("at", UTCDateTime(), nullable=True),
                Column("stamp", UTCDateTime(), default=func.now(), nullable=True))
    odd.create(store.engine)
    at = datetime(2026, 3, 9, 10, 30, tzinfo=timezone(timedelta(hours=3)))
    try:
        with store.transaction() as s:
            bulk_insert(s, odd, [{"weird col": "a", "payload": {"x": 1}, "at": at, "stamp": at},
                                 {"weird col": "b", "stamp": at}])
        with store.transaction() as s:
            rows = s.execute(select(odd.c["weird col"], odd.c.payload, odd.c.at, odd.c.payload.is_(None))
                             .order_by(odd.c.id)).all()
            assert [tuple(r) for r in rows] == [("a", {"x": 1}, at, False), ("b", None, None, True)]
        with pytest.raises(TypeError, match="bulk_odd.stamp: a SQL-side default"), store.transaction() as s:
            bulk_insert(s, odd, [{"weird col": "c", "stamp": at}, {"weird col": "d"}])
    finally:
        odd.drop(store.engine)
        store.close()


def test_bulk_insert_stores_a_value_every_row_shares_as_it_stores_each_rows_own(store_url: str) -> None:
    """One object in every row (a page's instant, its JSON) is converted once for the
    statement: stored exactly as equal objects given row by row are; a shared naive instant
    is still refused. A column may come beside the rows (``by_column``), one value a row."""
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    table = core_table(SlaEventRow)
    moscow = timezone(timedelta(hours=3))
    at, data = datetime(2026, 3, 9, 1, 30, 0, 7, tzinfo=moscow), {"policy": "Срочно", "level": 2}

    def row(at: datetime, data: dict[str, Any]) -> dict[str, Any]:
        return {"metric": "resolution", "cycle": 1, "kind": "warn", "at": at, "business_seconds": 0.0,
                "calendar_seconds": 0.0, "data": data}

    try:
        with store.transaction() as s:
            shared, own = (create_record(s, "ticket", {"number": n, "created_at": at}) for n in ("CRM-1", "CRM-2"))
            bulk_insert(s, table, [row(at, data) for _ in range(3)], by_column={"ticket_id": [shared] * 3})
            bulk_insert(s, table, [{**row(at.replace(), dict(data)), "ticket_id": own} for _ in range(3)])
        with store.transaction() as s:
            stored = {tid: s.execute(text("SELECT CAST(at AS TEXT), CAST(data AS TEXT) FROM sla_events WHERE ticket_id = :t"),
                                     {"t": tid}).all() for tid in (shared, own)}
        assert [tuple(r) for r in stored[shared]] == [tuple(r) for r in stored[own]]
        assert len(stored[shared]) == 3
        assert len({tuple(r) for r in stored[shared]}) == 1
        assert stored[shared][0][1] == '{"policy":"Срочно","level":2}'
        with pytest.raises(ValueError, match="3 rows but a column of another length"), store.transaction() as s:
            bulk_insert(s, table, [row(at, data) for _ in range(3)], by_column={"ticket_id": [shared] * 2})
        naive = datetime(2026, 3, 9)  # noqa: DTZ001
        with pytest.raises(ValueError, match="naive datetime"), store.transaction() as s:
            bulk_insert(s, table, [{**row(naive, data), "ticket_id": shared} for _ in range(3)])
    finally:
        store.close()


def test_postgresql_plans_each_statement_with_its_values_not_with_a_generic_plan(pg_url: str) -> None:
    """psycopg prepares a statement on the server from its fifth run; PostgreSQL's generic
    plan for a look-up of 500 keys then read every binding of the model on a table filled
    since its last ANALYZE. The store's statements are planned with their values each time."""
    store = open_store(pg_url + "?options=-c%20application_name%3Dcrm-bridge-test")
    upgrade(store, [a.path for a in resolve_order(discover())])
    query = select(BindingRow.remote_id).where(BindingRow.backend == "crm", BindingRow.remote_id.in_(["a", "b"]))
    try:
        with store.transaction() as s:
            for _ in range(12):  # well past psycopg's threshold of 5 and PostgreSQL's 5 custom plans
                s.execute(query)
            plans = s.execute(text("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                   "WHERE statement LIKE '%FROM bindings%'")).all()
            assert s.scalar(text("SHOW application_name")) == "crm-bridge-test"  # the URL's own options kept
        assert plans  # prepared on the server
        assert all(generic == 0 and custom > 0 for generic, custom in plans)
    finally:
        store.close()


def test_new_rows_never_take_a_number_twice_after_a_savepoint_rollback_or_core_inserts(store_url: str) -> None:
    """SQLite's ids are numbered before each flush from the table's max (``store.engine``):
    a number handed out inside a rolled-back SAVEPOINT, or rows inserted by Core and driver
    statements that bypass the ORM between two flushes, must not make a flush reuse one."""
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    at = datetime(2026, 5, 1, 9, tzinfo=UTC)
    table = core_table(TicketRow)

    def ticket(number: str) -> dict[str, Any]:
        return {"number": number, "created_at": at, "status": "new"}

    try:
        with store.transaction() as s:
            first = create_record(s, "ticket", ticket("CRM-1"))
            savepoint = s.begin_nested()
            create_record(s, "ticket", ticket("CRM-gone"))
            savepoint.rollback()
            after_rollback = create_record(s, "ticket", ticket("CRM-2"))
            s.execute(insert(table), [record_values("ticket", ticket("CRM-core"))])
            after_core = create_record(s, "ticket", ticket("CRM-3"))
            bulk_insert(s, table, [record_values("ticket", ticket("CRM-bulk"))])
            after_bulk = create_record(s, "ticket", ticket("CRM-4"))
        with store.transaction() as s:
            rows = dict(s.execute(select(TicketRow.number, TicketRow.id)).all())
        assert sorted(rows) == ["CRM-1", "CRM-2", "CRM-3", "CRM-4", "CRM-bulk", "CRM-core"]
        assert len(set(rows.values())) == len(rows)
        assert [rows["CRM-1"], rows["CRM-2"], rows["CRM-3"], rows["CRM-4"]] == [first, after_rollback, after_core, after_bulk]
        assert first < after_rollback < rows["CRM-core"] < after_core < rows["CRM-bulk"] < after_bulk
    finally:
        store.close()


def test_a_row_numbered_before_its_flush_keeps_its_number_and_rows_added_after_it_take_others(store_url: str) -> None:
    """``new_id`` gives an added row its id without a flush on SQLite (the flush that writes
    it also writes the rows that needed the id); a row added next without an id, a savepoint
    rolled back between them, still never takes the same number. PostgreSQL: a flush."""
    store = open_store(store_url)
    upgrade(store, ADDON_PATHS)
    at = datetime(2026, 5, 1, 9, tzinfo=UTC)
    sqlite = store_url.startswith("sqlite")
    try:
        with store.transaction() as s:
            create_record(s, "ticket", {"number": "CRM-1", "created_at": at, "status": "new"})
            savepoint = s.begin_nested()
            early = build_record("ticket", {"number": "CRM-2", "created_at": at, "status": "new"})
            s.add(early)
            early_id = new_id(s, early)
            assert (early in s.new) is sqlite  # SQLite: numbered, not written yet
            later = build_record("ticket", {"number": "CRM-3", "created_at": at, "status": "new"})
            s.add(later)
            savepoint.commit()
            gone = s.begin_nested()
            dropped = build_record("ticket", {"number": "CRM-gone", "created_at": at, "status": "new"})
            s.add(dropped)
            new_id(s, dropped)
            s.flush()
            gone.rollback()
            last = build_record("ticket", {"number": "CRM-4", "created_at": at, "status": "new"})
            s.add(last)
            last_id = new_id(s, last)
        with store.transaction() as s:
            rows = dict(s.execute(select(TicketRow.number, TicketRow.id)).all())
        assert sorted(rows) == ["CRM-1", "CRM-2", "CRM-3", "CRM-4"]
        assert rows["CRM-1"] < early_id == rows["CRM-2"] < rows["CRM-3"] < last_id == rows["CRM-4"]
    finally:
        store.close()
