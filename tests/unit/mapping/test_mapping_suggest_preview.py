"""Suggest proposes checkable mappings from metadata; preview shows both directions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.errors import ConfigError
from mapping.preview import RemoteRef, preview_records
from mapping.spec import mapping_from_text
from mapping.suggest import schema_from_sample, suggest
from mapping.validate import RemoteFacts, check_mapping

MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize("model", ["customer", "contact", "agent", "ticket"])
def test_a_suggestion_for_the_demo_1c_passes_check_as_it_is(model: str, onec_schema: dict[str, dict[str, str]]) -> None:
    draft = suggest(model, onec_schema, mapped=["customer", "contact", "agent", "ticket"])
    found = mapping_from_text(draft.to_yaml(["header"]), f"{model}.yaml")
    assert check_mapping(found, facts=RemoteFacts(entities=onec_schema)) == []


def test_russian_1c_names_map_to_canonical_fields_with_their_confidence(onec_schema: dict[str, dict[str, str]]) -> None:
    draft = suggest("customer", onec_schema, entity="Catalog_Контрагенты")
    by_field = {s.field: s for s in draft.fields}
    assert by_field["tax_id"].spec == {"from": "ИНН", "transform": ["digits", "empty_to_none"]}
    assert by_field["tax_reason_code"].spec == {"from": "КПП", "transform": ["digits", "empty_to_none"]}
    assert by_field["name"].spec == {"from": "Description", "transform": ["strip"]}
    assert by_field["tax_id"].confidence > 0.9
    assert draft.record == {"key": "Ref_Key", "version": "DataVersion", "deleted": "DeletionMark"}


def test_the_best_entity_is_chosen_and_the_others_are_listed(onec_schema: dict[str, dict[str, str]]) -> None:
    draft = suggest("customer", onec_schema)
    assert draft.entity == "Catalog_Партнеры"
    assert [e for e, _ in draft.alternatives] == ["Catalog_Контрагенты"]
    text = draft.to_yaml()
    assert "# Other candidate entity sets: Catalog_Контрагенты (0.92)" in text
    assert "  # tax_id: {from: ...}  # no candidate found" in text


def test_a_misspelt_model_or_an_unpublished_entity_is_refused_with_the_right_name(
        onec_schema: dict[str, dict[str, str]]) -> None:
    with pytest.raises(ConfigError, match="no canonical model 'tiket'. Did you mean 'ticket'?"):
        suggest("tiket", onec_schema)
    with pytest.raises(ConfigError, match="the backend publishes no 'Document_Интерс'. Did you mean 'Document_Интерес'?"):
        suggest("ticket", onec_schema, entity="Document_Интерс")


def test_a_rest_sample_gives_english_names_and_text_dates_a_transform() -> None:
    sample = [{"id": "7", "subject": "Printer", "created": "2026-03-02T09:15:00", "priority": "High",
               "requester_email": "a@b.example", "status": "Open"}]
    draft = suggest("ticket", schema_from_sample("tickets", sample), values={"priority": ["High", "Low"], "status": ["Open"]},
                    timezone="Europe/Berlin")
    by_field = {s.field: s.spec for s in draft.fields}
    assert draft.entity == "tickets"
    assert draft.timezone == "Europe/Berlin"
    assert by_field["subject"] == {"from": "subject", "transform": ["strip"]}
    assert by_field["priority"] is not None
    assert by_field["priority"]["map"]["High"] == "high"
    assert by_field["status"] is not None
    assert by_field["status"]["map"]["Open"] == "new"


def test_every_status_seen_in_the_sample_is_in_the_map_and_check_passes_on_that_sample(
        onec_schema: dict[str, dict[str, str]]) -> None:
    # a base that added its own states, and requests with an empty state or enum value
    states = ["Новое", "Квалификация", "В работе", "Переговоры", "Закрыто", None]
    kinds = ["Консультация", "", "ПретензияПоКачеству"]
    sample = [{"Number": f"CRM-{i:07d}", "Date": datetime(2026, 3, 2, 9, tzinfo=MSK), "Состояние_Key": state,
               "ВидОбращения": kinds[i % 3]} for i, state in enumerate(states)]
    draft = suggest("ticket", onec_schema, values={"Состояние_Key": states, "ВидОбращения": kinds})
    status = next(s for s in draft.fields if s.field == "status")
    assert status.spec is not None
    table = status.spec["map"]
    assert {"Новое", "Квалификация", "В работе", "Переговоры", "Закрыто", None} <= set(table)
    assert (table["Новое"], table["Закрыто"], table["Квалификация"], table[None]) == ("new", "closed", "new", "new")
    assert "map from 6 values seen" in status.reason
    assert "3 not recognised (Квалификация, Переговоры, (empty)) map to new: check them" in status.reason
    found = mapping_from_text(draft.to_yaml(), "ticket.yaml")
    probe = found.spec
    assert probe is not None
    readable = probe.model_copy(update={"fields": {k: v for k, v in probe.fields.items() if k in ("number", "created_at", "status", "type")}})
    assert check_mapping(found.__class__(found.file, found.doc, readable), facts=RemoteFacts(entities=onec_schema, sample=sample)) == []


@dataclass
class Rec:
    id: str
    values: dict[str, Any]


def test_preview_shows_canonical_values_references_and_the_write_back() -> None:
    found = mapping_from_text("""
model: ticket
entity: Document_Интерес
fields:
  number: {from: Number, transform: [strip]}
  created_at: Date
  customer_id: {from: Партнер_Key, ref: customer}
  priority: {from: Важность, map: {Высокая: high}, default: normal, owner: newest}
  resolution_due: {from: СрокИсполнения, owner: local}
""")
    assert found.spec is not None
    due = datetime(2026, 3, 3, 9, tzinfo=MSK)
    rows = preview_records(found.spec, [
        Rec("k1", {"Number": " CRM-1 ", "Date": datetime(2026, 3, 2, 9, tzinfo=MSK), "Партнер_Key": "p-1", "Важность": "Высокая", "СрокИсполнения": due}),
        Rec("k2", {"Number": "  ", "Date": None, "Партнер_Key": None, "Важность": "", "СрокИсполнения": None}),
    ])
    first, second = rows
    assert first.canonical["number"] == "CRM-1"
    assert first.canonical["customer_id"] == RemoteRef("customer", "p-1")
    assert first.write_back == {"Важность": "Высокая", "СрокИсполнения": due}
    assert first.problems == []
    assert first.as_json()["canonical"]["customer_id"] == "→customer p-1"
    assert [p.split(":")[0] for p in second.problems] == ["number", "created_at"]


def test_an_agent_suggestion_keeps_1cs_service_users_out(onec_schema: dict[str, dict[str, str]]) -> None:
    draft = suggest("agent", onec_schema)
    found = mapping_from_text(draft.to_yaml(), "agent.yaml")
    assert found.spec is not None
    assert found.spec.exclude == [{"Служебный": True}]
    assert found.spec.excluded({"Служебный": True, "Description": "Интеграция (служебный)"}) is not None
    without = {e: {f: t for f, t in fields.items() if f != "Служебный"} for e, fields in onec_schema.items()}
    assert suggest("agent", without).exclude == []  # proposed only where the entity has the field
