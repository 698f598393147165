"""Every mistake an integrator can make is reported at once, with file:line:column, the
field, what is valid and a "did you mean". Messages are pinned by golden files
(``UPDATE_GOLDEN=1 pytest tests/unit/mapping`` rewrites them after a deliberate change)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from crm_bridge.config import ConfigErrors
from mapping.load import load_mapping
from mapping.spec import MappingFile, read_mapping
from mapping.validate import RemoteFacts, check_mapping

GOLDEN = Path(__file__).parent / "golden"
SHIPPED = Path(__file__).parents[3] / "adapters" / "onec" / "data" / "mappings"
Write = Callable[..., MappingFile]

BROKEN_TICKET = """
model: ticket
entity: Document_Интерес
key: Ref_Key
version: DataVersion
deleted: DeletionMark
fields:
  number: {from: Number, tranform: [strip]}
  subjct: {from: Тема, transform: [strip]}
  description: {from: Описане}
  created_at: {from: Date}
  type:
    from: ВидОбращения
    map: {ТехническаяПроблема: technical_problm, Консультация: consultation}
    default: other
  priority: {from: Важность, transform: [strp]}
  channel: {from: НарушениеSLA}
  customer_id: {from: Партнер_Key, ref: custmer}
  contact_id: {from: КонтактноеЛицо_Key}
  resolution_due: {from: СрокИсполнения, owner: locl}
  status:
    from: Состояние_Key
    lookup: {entity: Catalog_СостоянияИнтересов, field: Descripton}
    map: {Новое: new}
    owner: newest
"""


def assert_golden(name: str, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_every_mistake_in_a_file_is_reported_at_once_with_its_place(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    found = write(BROKEN_TICKET, "mappings/ticket.yaml")
    problems = check_mapping(found, facts=RemoteFacts(entities=onec_schema))
    assert_golden("broken_ticket", problems)
    assert all(p.startswith("mappings/ticket.yaml:") for p in problems)


def test_without_remote_metadata_only_the_canonical_side_is_checked(write: Write) -> None:
    problems = check_mapping(write(BROKEN_TICKET, "mappings/ticket.yaml"))
    assert_golden("broken_ticket_offline", problems)
    assert not any("Описане" in p for p in problems)


def test_an_unknown_entity_set_is_named_with_the_closest_published_ones(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    found = write("model: agent\nentity: Catalog_Пользователь\nfields:\n  name: Description\n")
    assert check_mapping(found, facts=RemoteFacts(entities=onec_schema)) == [
        "ticket.yaml:2:1: entity: the remote metadata has no entity set 'Catalog_Пользователь'. Did you mean "
        "'Catalog_Пользователи'? Close names: Catalog_Пользователи, Catalog_Партнеры, Catalog_Заметки, Catalog_Контрагенты, "
        "Catalog_СостоянияИнтересов (13 in all). Publish it in 1C (Настройка стандартного интерфейса OData) or fix the name"]


def test_wrong_types_and_missing_required_fields(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    found = write("""
model: ticket
entity: Document_Интерес
fields:
  subject: {from: Тема, transform: [number]}
  created_at: {from: Тема, transform: [date]}
  sla_breached: {from: НарушениеSLA, transform: [strip]}
""")
    assert_golden("types_and_required", check_mapping(found, facts=RemoteFacts(entities=onec_schema)))


def test_fields_written_back_must_be_reversible(write: Write) -> None:
    found = write("""
model: ticket
entity: Document_Интерес
fields:
  number: Number
  created_at: {from: Date, owner: local, only_create: true}
  subject: {from: [Number, Тема], transform: [{template: "{Number}: {Тем}"}], owner: newest}
  priority:
    from: Важность
    map: {Высокая: high, Срочная: high, Низкая: low}
    regex: {"(?i)^обыч": normal}
    owner: newest
  sla_state: {from: СостояниеSLA, owner: local}
  sla_policy: {from: СостояниеSLA, owner: local}
""")
    assert_golden("write_back", check_mapping(found))


def test_a_sample_shows_value_map_gaps_and_values_the_model_refuses(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    found = write("""
model: ticket
entity: Document_Интерес
fields:
  number: {from: Number, transform: [strip]}
  created_at: Date
  type:
    from: ВидОбращения
    map: {ТехническаяПроблема: technical_problem, Консультацыя: consultation}
""")
    sample = [
        {"Number": "CRM-1", "Date": None, "ВидОбращения": "ТехническаяПроблема"},
        {"Number": "  ", "Date": None, "ВидОбращения": "Консультация"},
        {"Number": "CRM-3", "Date": None, "ВидОбращения": "Консультация"},
    ]
    assert_golden("sample_gaps", check_mapping(found, facts=RemoteFacts(entities=onec_schema, sample=sample)))


def test_a_rest_sample_stands_in_for_metadata(write: Write) -> None:
    found = write("""
model: customer
entity: clients
key: id
fields:
  name: {from: title, transform: [strip]}
  tax_id: {from: inn, transform: [digits]}
""", "rest/customer.yaml")
    sample = [{"id": "1", "title": "ООО Ромашка", "tax_ld": "7701234567"}]
    assert_golden("rest_sample", check_mapping(found, facts=RemoteFacts(sample=sample)))


def test_references_to_unmapped_models_and_reference_cycles(write: Write) -> None:
    contact = write("""
model: contact
entity: Catalog_КонтактныеЛицаПартнеров
fields:
  name: Description
  customer_id: {from: Owner_Key, ref: customer}
""", "mappings/contact.yaml")
    customer = write("""
model: customer
entity: Catalog_Партнеры
fields:
  name: Description
children:
  people:
    from: КонтактнаяИнформация
    key: person
    fields:
      person: {from: Вид_Key, ref: contact}
      manager: {from: Вид_Key, ref: agent}
""", "mappings/customer.yaml")
    assert contact.spec is not None
    assert customer.spec is not None
    siblings = {"contact": contact.spec, "customer": customer.spec}
    problems = check_mapping(customer, siblings=siblings) + check_mapping(contact, siblings=siblings)
    assert_golden("references", problems)


def test_structure_errors_name_the_key_and_the_valid_keys(write: Write) -> None:
    found = write("""
modl: ticket
entity: Document_Интерес
fields:
  number: {form: Number}
  subject: {from: Тема, lookup: {entity: X, feild: Y}}
  type: {from: ВидОбращения, only_create: maybe}
""")
    assert found.spec is None
    assert_golden("structure", check_mapping(found))


def test_load_mapping_raises_every_offline_problem_with_positions(write: Write) -> None:
    write("model: agent\nentity: Catalog_Пользователи\nfields:\n  nam: Description\n  active: {from: X, map: {a: b}}\n", "agent.yaml")
    # `nam` is no agent field (and so `name`, required, is missing); `b` is text, `active` yes/no
    with pytest.raises(ConfigErrors) as err:
        load_mapping(Path("agent.yaml"))
    assert [p.split(": ")[0] for p in err.value.problems] == ["agent.yaml:3:1", "agent.yaml:4:3", "agent.yaml:5:3"]


@pytest.mark.parametrize("model", ["agent", "contact", "customer", "ticket"])
def test_shipped_1c_mappings_pass_every_check_against_the_demo_schema(model: str, onec_schema: dict[str, dict[str, str]],
                                                                     onec_references: dict[str, dict[str, str]]) -> None:
    siblings = {m: load_mapping(SHIPPED / f"{m}.yaml") for m in ("agent", "contact", "customer", "ticket")}
    found = read_mapping(SHIPPED / f"{model}.yaml")
    assert check_mapping(found, facts=RemoteFacts(entities=onec_schema, references=onec_references), siblings=siblings) == []


def test_a_reference_or_lookup_aimed_at_another_object_than_the_metadata_says_is_named(
    write: Write, onec_schema: dict[str, dict[str, str]], onec_references: dict[str, dict[str, str]]
) -> None:
    siblings = {m: load_mapping(SHIPPED / f"{m}.yaml") for m in ("agent", "contact", "customer")}
    found = write("model: ticket\nentity: Document_Интерес\nfields:\n  number: Number\n  created_at: Date\n"
                  "  customer_id: {from: Контрагент_Key, ref: customer}\n"
                  "  status: {from: Состояние_Key, lookup: {entity: Catalog_Пользователи, field: Description}, default: keep}\n",
                  "ticket.yaml")
    problems = check_mapping(found, facts=RemoteFacts(entities=onec_schema, references=onec_references, origin="backend 'crm'"),
                             siblings=siblings)
    assert problems == [
        "ticket.yaml:6:39: fields.customer_id.ref: Контрагент_Key points to Catalog_Контрагенты (backend 'crm'), but "
        "customer.yaml maps Catalog_Партнеры: its keys would resolve to no customer; map the field that points to "
        "Catalog_Партнеры, or map customer from Catalog_Контрагенты",
        "ticket.yaml:7:42: fields.status.lookup.entity: Состояние_Key points to Catalog_СостоянияИнтересов (backend "
        "'crm'), not Catalog_Пользователи: the lookup would find nothing; write `entity: Catalog_СостоянияИнтересов`",
    ]


LENGTHS_TICKET = """
model: ticket
entity: Document_Интерес
correlation: ИдентификаторВнешний
fields:
  number: Number
  subject: Тема
  created_at: Date
  type:
    from: ВидОбращения
    map: {ТехническаяПроблема: technical_problem, Консультация: consultation}
    owner: newest
  priority:
    from: Важность
    map: {Высокая: high, Низкая: low}
    owner: newest
  sla_state: {from: СостояниеSLA, owner: local}
  sla_breached: {from: НарушениеSLA, owner: local}
"""


def test_a_written_value_longer_than_the_1c_field_is_named_with_its_place(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    from mapping.lengths import is_warning

    found = write(LENGTHS_TICKET, "mappings/ticket.yaml")
    lengths = {"Document_Интерес": {"СостояниеSLA": 5, "ВидОбращения": 12, "Важность": 12, "Тема": 3, "ИдентификаторВнешний": 20}}
    problems = check_mapping(found, facts=RemoteFacts(entities=onec_schema, lengths=lengths, origin="backend 'crm'"))
    assert problems == [
        "mappings/ticket.yaml:3:1: correlation: ИдентификаторВнешний holds 20 characters (backend 'crm': MaxLength), but "
        "crm-bridge's correlation key needs up to 41: 1C would cut it and a create retried after a lost answer would not "
        "find its record (a second one would be made); widen the attribute or name a longer field",
        "mappings/ticket.yaml:9:5: fields.type.from: ВидОбращения holds 12 characters (backend 'crm': MaxLength), but "
        "crm-bridge writes 'ТехническаяПроблема' (19 characters): 1C would cut it without an error and the write would be "
        "parked; widen the attribute in the configuration, or map to shorter values",
        "mappings/ticket.yaml:16:15: fields.sla_state.from: warning: СостояниеSLA holds 5 characters (backend 'crm': "
        "MaxLength), and ticket.sla_state is free text: a longer value would be cut by 1C (the write is then parked with "
        "what 1C stored); widen the attribute, or map the values crm-bridge writes to shorter ones with `map:`",
    ]
    assert [is_warning(p) for p in problems] == [False, False, True]  # Тема is read only: no finding; Важность fits


def test_without_lengths_nothing_is_said_about_them(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    found = write(LENGTHS_TICKET, "mappings/ticket.yaml")
    assert check_mapping(found, facts=RemoteFacts(entities=onec_schema)) == []


def test_a_malformed_or_impossible_exclude_filter_is_named_with_its_line(write: Write, onec_schema: dict[str, dict[str, str]]) -> None:
    found = write("""
model: agent
entity: Catalog_Пользователи
folders: inclde
exclude:
  - {Служебный: да}
  - {Служебнй: true}
  - {Description: {starts: Робот}}
  - {ФизическоеЛицо_Key: Иванов}
  - Недействителен
fields:
  name: Description
""", "agent.yaml")
    problems = check_mapping(found, facts=RemoteFacts(entities=onec_schema))
    assert [p.split(": ")[0] for p in problems] == ["agent.yaml:3:1", "agent.yaml:7:6", "agent.yaml:9:5"]
    assert "folders: must be one of skip, include. Did you mean 'include'? (got 'inclde')" in problems[0]
    assert "exclude.2.Description: {'starts': 'Робот'} is not a value to compare with" in problems[1]
    assert "exclude.4: must be a mapping of keys (key: value) (got 'Недействителен')" in problems[2]
    fixed = write("""
model: agent
entity: Catalog_Пользователи
exclude:
  - {Служебный: да}
  - {Служебнй: true}
  - {ФизическоеЛицо_Key: Иванов}
  - {Description: [Робот, 5]}
fields:
  name: Description
""", "agent.yaml")
    problems = check_mapping(fixed, facts=RemoteFacts(entities=onec_schema))
    assert [p.split(": ")[0] for p in problems] == ["agent.yaml:4:6", "agent.yaml:5:6", "agent.yaml:6:6", "agent.yaml:7:6"]
    assert "'да' can never equal Служебный (Edm.Boolean); write true or false" in problems[0]
    assert "has no field 'Служебнй'. Did you mean 'Служебный'?" in problems[1]
    assert "'Иванов' can never equal ФизическоеЛицо_Key (Edm.Guid); write a key like" in problems[2]
    assert "5 can never equal Description" in problems[3]


def test_exclude_matches_every_field_of_an_entry_and_any_value_of_a_list(write: Write) -> None:
    spec = write("""
model: agent
entity: Catalog_Пользователи
exclude:
  - {Служебный: true}
  - {Description: [Робот, Администратор], Недействителен: false}
fields:
  name: Description
""", "agent.yaml").spec
    assert spec is not None
    assert spec.excluded({"Служебный": True, "Description": "Петров"}) == "exclude[0]: Служебный = True"
    assert spec.excluded({"Служебный": 1}) is None  # a flag is a boolean, not a number
    assert spec.excluded({"Служебный": False, "Description": "Робот   ", "Недействителен": False}) is not None  # 1C pads
    assert spec.excluded({"Служебный": False, "Description": "Робот", "Недействителен": True}) is None
    assert spec.remote_fields() == ["Ref_Key", "Description", "Служебный", "Недействителен"]


OWNED_TICKET = """
model: ticket
entity: Document_Интерес
key: Ref_Key
version: DataVersion
fields:
  number: {from: Number}
  resolution_due: {from: СрокИсполнения, owner: local}
  assignee_id: {from: Ответственный_Key, ref: agent, owner: local}
"""


def test_a_field_owned_here_that_no_installed_addon_decides_is_named(write: Write) -> None:
    found = write(OWNED_TICKET, "mappings/ticket.yaml")
    decided = {"ticket": frozenset({"resolution_due", "sla_state"})}
    problems = check_mapping(found, facts=RemoteFacts(decided=decided))
    assert [p for p in problems if "no installed addon decides it" in p] == [
        "mappings/ticket.yaml:8:54: fields.assignee_id.owner: ticket.assignee_id is owned here (owner: local), but no "
        "installed addon decides it, so crm-bridge never writes it to Ответственный_Key and never reads it either "
        "(decided here: resolution_due, sla_state); make it owner: remote to import it, or install the addon that decides it"]
    assert not [p for p in check_mapping(found) if "no installed addon" in p]  # unknown addons: not judged


def test_the_sla_addon_declares_what_it_decides() -> None:
    from crm_bridge.app import load_registry
    from mapping.cli import decided_fields

    class Bridge:
        registry = load_registry()[0]

    assert decided_fields(Bridge())["ticket"] >= {"resolution_due", "first_response_due", "sla_policy", "sla_state",
                                                   "sla_breached"}
    shipped = read_mapping(SHIPPED / "ticket.yaml")
    assert not [p for p in check_mapping(shipped, facts=RemoteFacts(decided=decided_fields(Bridge())))
                if "no installed addon" in p]
