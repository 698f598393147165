"""Fault plans, unpublishing and the simulated 1C user, without a socket."""

from __future__ import annotations

from datetime import datetime

import pytest

from adapters.onec.emulator import Emulator
from adapters.onec.emulator.faults import Fault, FaultPlan, fault_from_json
from adapters.onec.emulator.schema import load_schema, without_sets

NOW = datetime(2024, 3, 20, 12, 0, 0)


def test_counted_fault_fires_exactly_count_times_for_its_scope() -> None:
    plan = FaultPlan()
    plan.add(Fault("status", method="PATCH", entity_set="Document_Интерес", count=2))
    assert plan.take("GET", "Document_Интерес") == (0.0, None)
    assert plan.take("PATCH", "Catalog_Партнеры") == (0.0, None)
    fired = [plan.take("PATCH", "Document_Интерес")[1] for _ in range(3)]
    assert [f.kind if f else None for f in fired] == ["status", "status", None]


def test_latencies_add_up_and_the_first_other_fault_decides() -> None:
    plan = FaultPlan()
    plan.add(Fault("latency", seconds=0.5))
    plan.add(Fault("latency", seconds=0.25, entity_set="$metadata"))
    plan.add(Fault("drop", entity_set="$metadata", count=1))
    plan.add(Fault("auth", entity_set="$metadata", count=1))
    delay, fault = plan.take("GET", "$metadata")
    assert delay == 0.75
    assert fault is not None
    assert fault.kind == "drop"
    assert plan.take("GET", "$metadata")[1] == Fault("auth", entity_set="$metadata", count=1)


def test_fault_from_json_rejects_unknown_fields_and_kinds() -> None:
    with pytest.raises(ValueError, match="retry_after"):
        fault_from_json({"kind": "status", "retryAfter": 1})
    with pytest.raises(ValueError, match="latency"):
        fault_from_json({"kind": "slow"})
    with pytest.raises(ValueError, match="count"):
        fault_from_json({"kind": "drop", "count": 0})


def test_without_sets_removes_the_type_its_rows_associations_and_bindings() -> None:
    schema = load_schema()
    text = without_sets(schema.edmx_text, {"Document_Интерес", "Document_Интерес_Соисполнители"})
    reparsed = load_schema(text)
    assert "Document_Интерес" not in reparsed.sets
    assert "<FunctionImport" not in text
    assert "Catalog_Партнеры" in reparsed.sets
    # the request's five, its co-executors' one, and the attached files' owner (ВладелецФайла)
    assert text.count("<Association ") == schema.edmx_text.count("<Association ") - 7


def test_unpublishing_an_unknown_set_is_refused() -> None:
    emu = Emulator(requests=10, now=NOW)
    with pytest.raises(Exception, match="Catalog_Нет"):
        emu.unpublish("Catalog_Нет")


def test_simulated_user_moves_requests_along_the_state_machine() -> None:
    emu = Emulator(requests=200, seed=4, now=NOW)
    states = {s["Ref_Key"]: s["Description"] for s in emu.records("Catalog_СостоянияИнтересов")}
    before = {d["Ref_Key"]: d for d in emu.records("Document_Интерес")}
    allowed = {("Новое", "В работе"), ("В работе", "Ожидает ответа клиента"),
               ("В работе", "Решено"), ("Ожидает ответа клиента", "В работе"),
               ("Решено", "Закрыто")}
    created = 0
    for _ in range(60):
        action, ref = emu.activity.step()
        after = emu.get("Document_Интерес", ref)
        assert after is not None
        if action == "create":
            created += 1
            assert states[after["Состояние_Key"]] == "Новое"
            assert after["Posted"] is True
            before[ref] = after
            continue
        old = before[ref]
        assert after["DataVersion"] != old["DataVersion"]
        move = (states[old["Состояние_Key"]], states[after["Состояние_Key"]])
        assert move[0] == move[1] or move in allowed
        before[ref] = after
    assert 0 < created < 30
