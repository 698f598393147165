"""A new record's row, merge base, changed fields and send, as the importer builds them
(``Importer._new_record``), are what the plain step-by-step construction gives: the same
values, the base in the same order, the same refusal — Cyrillic, empty values, dates in
other zones, owned fields 1C already holds, and values the model refuses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.model import fields_of, remote_to_json
from crm_bridge.store.records import new_record_values, without_empty
from mapping.compile import CompiledMapping
from sync.engine import mappings_for
from sync.importer import Importer
from sync.merge import merge
from sync.page import NewRecord
from sync.quarantine import Unusable
from sync.source import RemoteRecord

NOW = datetime(2026, 11, 20, 12, 0)


def plainly(mapping: CompiledMapping, rec: RemoteRecord, resolve: Any, deleted: dict[str, bool]) -> NewRecord:
    """The construction as it read before it was made cheaper: one dict a step."""
    model = mapping.spec.model
    everything = mapping.reading_everything.to_canonical(rec.values, resolve, creating=True)
    fields = {k: v for k, v in everything.items() if k in mapping.read_at_creation}
    try:
        values, read = new_record_values(model, {**fields, **deleted}, [k for k in fields if k not in deleted])
    except ValueError as exc:
        raise Unusable(f"{model} {rec.id}: {exc}", stage="convert") from exc
    kept = without_empty(model, everything)
    rest = {k: v for k, v in kept.items() if k not in read} if len(read) < len(kept) else {}
    if any(v is not None for v in rest.values()):
        rest.update(remote_to_json(model, {k: v for k, v in rest.items() if v is not None}))
    held = {k: read[k] if k in read else rest[k] for k in kept}
    owned = {k: everything[k] for k in mapping.owned_locally if k in everything}
    send = merge(owned, {k: values.get(k) for k in owned}, None, mapping.owners, "remote_wins").send if owned else {}
    return NewRecord(model, values, rec, "digest", held, sorted(fields), send)


def outcome(build: Any) -> Any:
    try:
        made = build()
    except Exception as exc:  # noqa: BLE001 - a refusal is an outcome to compare too
        return type(exc).__name__, str(exc)
    return list(made.values.items()), list(made.base.items()), made.changed, made.send


def variants(rec: RemoteRecord) -> Iterator[RemoteRecord]:
    """`rec`, and the same request with empty, shifted, owned and refused values."""
    opened = rec.values["Date"]
    yield rec
    for change in (
        {"Тема": "", "Описание": None, "Важность": None, "Состояние_Key": None},
        {"Тема": "Ёлка: «счёт» №5 — не проходит\\оплата", "Описание": "строка 1\nстрока 2\t✓"},
        {"Date": opened.astimezone(UTC), "ДатаПервогоОтвета": opened.astimezone(timezone(timedelta(hours=5, minutes=30)))},
        {"СрокИсполнения": opened + timedelta(days=2), "СостояниеSLA": "Просрочено", "НарушениеSLA": True},
        {"СрокИсполнения": opened.astimezone(timezone(timedelta(hours=-3))), "СрокПервогоОтвета": opened, "СостояниеSLA": "нечто"},
        {"Date": opened.replace(tzinfo=None)},  # naive: the model refuses it
        {"Важность": "Неслыханная"},  # no value map covers it
        {"Соисполнители": [], "ИдентификаторВнешний": "", "НарушениеSLA": False},
    ):
        yield dataclasses.replace(rec, values={**rec.values, **change})


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[App]:
    with Emulator(requests=30, seed=11, now=NOW, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        app = App.from_text(demo_config(emu.base_url, tmp_path / "store.db"))
        app.upgrade_db()
        yield app
        app.close()


def test_a_new_record_is_built_as_the_plain_construction_builds_it(bridge: App) -> None:
    remote = bridge.backend("demo-1c")
    mappings = mappings_for(remote, ["customer", "contact", "ticket"])
    importer = Importer(bridge.store, bridge.bus, bridge.config, remote, mappings, datetime.now(UTC))
    refused = built = 0
    for model, mapping in mappings.items():
        records = [r for page in remote.read(mapping.spec) for r in page if r.invalid is None]
        assert records
        for rec in (v for r in records for v in (variants(r) if model == "ticket" else [r])):
            for deleted in ({}, {"deleted": rec.deleted}) if "deleted" in fields_of(model) else ({},):
                expected = outcome(lambda m=mapping, r=rec, d=deleted: plainly(m, r, lambda *_: 7, d))
                got = outcome(lambda m=mapping, r=rec, d=deleted: importer._new_record(m, r, "digest", lambda *_: 7, d))
                assert got == expected, (model, rec.id, rec.values)
                refused += isinstance(expected[0], str)
                built += not isinstance(expected[0], str)
    assert refused  # both roads were taken
    assert built > refused
