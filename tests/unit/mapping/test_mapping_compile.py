"""Compiled mappings: both directions, value maps, references, children, ownership."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.errors import ConfigError, RecordSkipped
from crm_bridge.registry import Registry
from mapping.compile import CompiledMapping, compile_mapping
from mapping.load import load_mapping
from mapping.spec import MappingSpec, mapping_from_text
from mapping.transforms import bind_registry

MSK = ZoneInfo("Europe/Moscow")
SHIPPED = Path(__file__).parents[3] / "adapters" / "onec" / "data" / "mappings"


def compiled(text: str, **kwargs: Any) -> CompiledMapping:
    found = mapping_from_text(text)
    assert found.spec is not None, found.problems
    return compile_mapping(found.spec, **kwargs)


def ids(model: str, remote_id: Any) -> str:
    return f"{model}#{remote_id}"


TICKET = """
model: ticket
entity: Document_Интерес
fields:
  number: {from: Number, transform: [strip]}
  subject: {from: Тема, transform: [strip], owner: newest}
  created_at: {from: Date, only_create: true}
  type:
    from: ВидОбращения
    map: {ТехническаяПроблема: technical_problem, Консультация: consultation}
    regex: {"(?i)срочн": urgent}
    default: other
  priority: {from: Важность, map: {Высокая: high, Низкая: low}, default: ignore}
  customer_id: {from: Партнер_Key, ref: customer}
  resolution_due: {from: СрокИсполнения, owner: local}
  channel: {transform: [{const: phone}]}
"""


def test_exact_map_then_pattern_then_default_decide_the_canonical_value() -> None:
    mapping = compiled(TICKET)

    def type_of(value: str) -> Any:
        return mapping.to_canonical({"ВидОбращения": value}, ids, creating=True)["type"]

    assert type_of("Консультация") == "consultation"
    assert type_of("Очень срочный запрос") == "urgent"
    assert type_of("Что-то новое") == "other"


def test_default_ignore_leaves_an_unmapped_value_out_instead_of_overwriting() -> None:
    mapping = compiled(TICKET)
    assert mapping.to_canonical({"Важность": "Высокая"}, ids, creating=True)["priority"] == "high"
    assert "priority" not in mapping.to_canonical({"Важность": "Обычная"}, ids, creating=True)


def test_only_create_fields_are_imported_on_create_but_never_on_update() -> None:
    mapping = compiled(TICKET)
    opened = datetime(2026, 3, 2, 9, tzinfo=MSK)
    assert mapping.to_canonical({"Date": opened}, ids, creating=True)["created_at"] == opened
    assert "created_at" not in mapping.to_canonical({"Date": opened}, ids, creating=False)


def test_references_go_through_the_resolver_and_empty_ones_stay_empty() -> None:
    mapping = compiled(TICKET)
    assert mapping.to_canonical({"Партнер_Key": "guid-1"}, ids, creating=True)["customer_id"] == "customer#guid-1"
    assert mapping.to_canonical({"Партнер_Key": None}, ids, creating=True)["customer_id"] is None
    assert mapping.reference_sources() == [("Партнер_Key", "customer")]


def test_locally_owned_fields_are_written_back_and_never_imported() -> None:
    mapping = compiled(TICKET)
    due = datetime(2026, 3, 3, 9, tzinfo=MSK)
    assert "resolution_due" not in mapping.to_canonical({"СрокИсполнения": due}, ids, creating=True)
    assert mapping.to_remote({"resolution_due": due, "number": "X"}, ids) == {"СрокИсполнения": due}
    assert mapping.local_fields == {"resolution_due", "subject"}
    assert mapping.owners["subject"] == "newest"


def test_constant_fields_need_no_source() -> None:
    assert compiled(TICKET).to_canonical({}, ids, creating=True)["channel"] == "phone"


def test_newest_owned_fields_round_trip_to_the_same_remote_values() -> None:
    text = """
model: ticket
entity: Document_Интерес
fields:
  subject: {from: Тема, transform: [strip], owner: newest}
  priority: {from: Важность, map: {Низкая: low, Обычная: normal, Высокая: high}, owner: newest}
  sla_breached: {from: НарушениеSLA, owner: newest}
  customer_id: {from: Партнер_Key, ref: customer, owner: newest}
  resolution_due: {from: СрокИсполнения, owner: newest}
"""
    mapping = compiled(text)
    remote = {"Тема": "Не печатает принтер", "Важность": "Высокая", "НарушениеSLA": False, "Партнер_Key": "g-7",
              "СрокИсполнения": datetime(2026, 3, 3, 9, tzinfo=MSK)}
    local_ids = {"g-7": 7}
    canonical = mapping.to_canonical(remote, lambda m, rid: local_ids[rid], creating=True)
    back = mapping.to_remote(canonical, lambda m, lid: {v: k for k, v in local_ids.items()}[lid])
    assert back == remote


def test_yaml_true_and_false_keys_match_boolean_remote_values() -> None:
    agent = compile_mapping(load_mapping(SHIPPED / "agent.yaml"))
    assert agent.to_canonical({"Description": "Иванова", "Недействителен": False}, ids, creating=True)["active"] is True
    assert agent.to_canonical({"Description": "Петров", "Недействителен": True}, ids, creating=True)["active"] is False


def test_boolean_map_writes_back_booleans_not_text() -> None:
    text = """
model: agent
entity: Catalog_Пользователи
fields:
  name: Description
  active: {from: Недействителен, map: {true: false, false: true}, owner: newest}
"""
    assert compiled(text).to_remote({"active": False}, ids) == {"Недействителен": True}


def test_several_sources_are_combined_by_template_and_concat() -> None:
    text = """
model: contact
entity: Catalog_КонтактныеЛицаПартнеров
fields:
  name: {from: [Фамилия, Имя, Отчество], transform: [{concat: " "}]}
  position: {from: [ДолжностьПоВизитке, Code], transform: [{template: "{ДолжностьПоВизитке} ({Code})"}]}
"""
    got = compiled(text).to_canonical({"Фамилия": "Иванова", "Имя": "Анна", "Отчество": None,
                                       "ДолжностьПоВизитке": "Бухгалтер", "Code": "0007"}, ids, creating=True)
    assert got == {"name": "Иванова Анна", "position": "Бухгалтер (0007)"}


def test_children_are_keyed_on_the_match_key_so_a_repeated_row_is_not_duplicated() -> None:
    text = """
model: ticket
entity: Document_Интерес
fields:
  number: Number
children:
  coexecutors:
    from: Соисполнители
    key: agent_id
    fields:
      agent_id: {from: Пользователь_Key, ref: agent}
      role: {from: Роль, transform: [strip]}
"""
    rows = [{"LineNumber": 1, "Пользователь_Key": "a", "Роль": " Эксперт "},
            {"LineNumber": 2, "Пользователь_Key": "b", "Роль": "Контроль"},
            {"LineNumber": 3, "Пользователь_Key": "a", "Роль": "Эксперт"}]
    got = compiled(text).to_canonical({"Number": "1", "Соисполнители": rows}, ids, creating=True)
    assert got["coexecutors"] == [{"agent_id": "agent#a", "role": "Эксперт"}, {"agent_id": "agent#b", "role": "Контроль"}]


def test_a_value_a_transform_refuses_skips_the_record_naming_field_and_value() -> None:
    text = """
model: ticket
entity: tickets
timezone: Europe/Moscow
fields:
  number: id
  created_at: {from: opened, transform: [{date: "%d.%m.%Y %H:%M"}]}
"""
    mapping = compiled(text)
    assert mapping.to_canonical({"id": "1", "opened": "02.03.2026 09:15"}, ids, creating=True)["created_at"] == datetime(2026, 3, 2, 9, 15, tzinfo=MSK)
    with pytest.raises(RecordSkipped, match=r"field created_at \(from \{'opened': '2026-03-02'\}\)"):
        mapping.to_canonical({"id": "1", "opened": "2026-03-02"}, ids, creating=True)


def test_an_addon_transform_registered_in_the_registry_is_usable_by_name() -> None:
    registry = Registry()

    def initials(value: Any) -> Any:
        """First letters of each word."""
        return "".join(w[0] for w in value.split())

    registry.add(initials, usage="mapping.transform", name="initials")
    bind_registry(registry)
    try:
        text = "model: agent\nentity: Catalog_Пользователи\nfields:\n  name: {from: Description, transform: [initials]}\n"
        assert compiled(text).to_canonical({"Description": "Анна Петровна Иванова"}, ids, creating=True) == {"name": "АПИ"}
    finally:
        bind_registry(Registry())


def test_an_unknown_transform_fails_compilation_with_a_suggestion() -> None:
    spec = MappingSpec.model_validate({"model": "agent", "entity": "E", "fields": {"name": {"from": "D", "transform": ["strp"]}}})
    with pytest.raises(ConfigError, match="unknown transform 'strp'. Did you mean 'strip'"):
        compile_mapping(spec)


def test_specs_built_in_code_keep_the_shorthand_and_the_sync_contract() -> None:
    spec = MappingSpec.model_validate({
        "model": "ticket", "entity": "Doc", "version": "v",
        "fields": {"number": "N", "resolution_due": {"from": "Due", "owner": "local"}},
    })
    assert spec.fields["number"].source == "N"
    assert spec.remote_fields() == ["Ref_Key", "v", "N", "Due"]
    assert compile_mapping(spec).local_fields == {"resolution_due"}


def test_reading_everything_sees_the_remote_values_of_every_field_on_every_read() -> None:
    mapping = compiled(TICKET)
    remote = {"Number": " CRM-7 ", "Тема": "Нет связи", "Date": datetime(2026, 3, 2, 9, 0, tzinfo=MSK),
              "ВидОбращения": "Консультация", "Важность": "Высокая", "Партнер_Key": None,
              "СрокИсполнения": datetime(2026, 3, 3, 18, 0, tzinfo=MSK)}
    plain = mapping.to_canonical(remote, ids, creating=False)
    assert "resolution_due" not in plain  # crm-bridge decides it
    assert "created_at" not in plain  # read at creation only
    seen = mapping.reading_everything.to_canonical(remote, ids, creating=False)
    assert seen["resolution_due"] == remote["СрокИсполнения"]
    assert seen["created_at"] == remote["Date"]
    assert mapping.reading_everything is mapping.reading_everything  # compiled once


def test_writing_everything_sends_every_writable_field_for_a_create() -> None:
    mapping = compiled(TICKET)
    local = {"number": "WEB-1", "subject": "Счёт", "type": "consultation", "resolution_due": datetime(2026, 3, 3, 18, 0, tzinfo=MSK)}
    plain = mapping.to_remote(local, ids)
    assert set(plain) == {"Тема", "СрокИсполнения"}  # an update sends the fields crm-bridge decides
    created = mapping.writing_everything.to_remote(local, ids)
    assert {"Number", "Тема", "ВидОбращения", "СрокИсполнения"} <= set(created)
    assert created["ВидОбращения"] == "Консультация"
    assert mapping.writing_everything is mapping.writing_everything


def test_a_many_to_one_value_map_says_which_canonical_values_are_written_alike() -> None:
    """The shipped 1C request mapping writes urgent and high both as Высокая: the sync
    engine keeps a local urgent while 1C holds Высокая, and nothing else."""
    mapping = compile_mapping(load_mapping(SHIPPED / "ticket.yaml"))
    assert mapping.to_remote({"priority": "urgent"}, ids)["Важность"] == mapping.to_remote({"priority": "high"}, ids)["Важность"]
    assert mapping.written_alike("priority", "urgent", "high")
    assert mapping.written_alike("priority", "high", "urgent")
    assert not mapping.written_alike("priority", "urgent", "normal")  # a 1C user lowered it: taken
    assert not mapping.written_alike("priority", "urgent", "urgent")
    assert not mapping.written_alike("type", "urgent", "other")  # read only: never written alike
    one_to_one = compiled("model: ticket\nentity: D\nfields:\n  priority: {from: P, map: {A: high, B: low}, owner: newest}\n")
    assert not one_to_one.written_alike("priority", "high", "low")
