"""Bindings written in bulk are seen by every later lookup of the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from crm_bridge.addons import discover, resolve_order
from crm_bridge.store.engine import open_store
from crm_bridge.store.migrate import upgrade
from crm_bridge.store.records import create_record
from sync.binder import Binder
from sync.tables import BindingRow

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_bulk_bindings_replace_what_a_preload_cached_as_absent(store_url: str) -> None:
    store = open_store(store_url)
    upgrade(store, [a.path for a in resolve_order(discover())])
    try:
        with store.transaction() as s:
            ids = [create_record(s, "customer", {"name": f"ООО «Ромашка-{i}»"}) for i in range(3)]
            binder = Binder(s, "demo-1c")
            binder.preload("customer", ["k-0", "k-1", "k-2"])
            binder.preload_ids("customer", ["k-0", "k-1", "k-2"])
            assert binder.local_id("customer", "k-1") is None  # cached: not bound
            bound = binder.bind_many("customer", [(ids[0], "k-0", "v1", "h0", {"name": "ООО «Ромашка-0»"}),
                                                  (ids[1], "k-1", None, "h1", None)], now=NOW)
            assert bound == 2
            assert binder.local_id("customer", "k-0") == ids[0]
            assert binder.local_id("customer", "k-1") == ids[1]
            assert binder.local_id("customer", "k-2") is None
            row = binder.get("customer", "k-0")
            assert row is not None
            assert (row.local_id, row.remote_version, row.content_hash, row.state) == (ids[0], "v1", "h0", "active")
            assert row.base == {"name": "ООО «Ромашка-0»"}
            assert row.imported_at == NOW
            assert binder.bind_many("customer", [], now=NOW) == 0
        with store.transaction() as s:
            stored = s.execute(select(BindingRow.remote_id, BindingRow.local_id).order_by(BindingRow.remote_id)).all()
            assert [tuple(r) for r in stored] == [("k-0", ids[0]), ("k-1", ids[1])]
    finally:
        store.close()


def test_preloads_find_every_bound_key_of_more_than_one_chunk_whatever_its_text(store_url: str) -> None:
    """The keys go to the database as one JSON (SQLite) or array (PostgreSQL) parameter:
    quotes, backslashes and Cyrillic must come back as the same keys, across chunks."""
    store = open_store(store_url)
    upgrade(store, [a.path for a in resolve_order(discover())])
    odd = ['ключ "в кавычках"', "back\\slash", "Ёжик-№1", "a'b", "7"]
    keys = odd + [f"k-{i:04d}" for i in range(1100)]
    try:
        with store.transaction() as s:
            ids = [create_record(s, "customer", {"name": f"Клиент {i}"}) for i in range(len(keys))]
            Binder(s, "demo-1c").bind_many("customer", ((i, k, f"v-{k}", "h", None) for i, k in zip(ids, keys, strict=True)), now=NOW)
        asked = keys[::2] + ["нет такого", "k-9999"]
        with store.transaction() as s:
            binder = Binder(s, "demo-1c")
            binder.preload("customer", asked)
            found = {k: row.local_id for k in asked if (row := binder.get("customer", k)) is not None}
            ids_only = Binder(s, "demo-1c")
            ids_only.preload_ids("customer", asked)
            versions = Binder(s, "demo-1c").versions("customer", asked)
        expected = {k: i for k, i in zip(keys, ids, strict=True) if k in set(asked)}
        assert found == expected
        assert ids_only.bound_ids("customer") == expected
        assert versions == {k: f"v-{k}" for k in expected}
    finally:
        store.close()
