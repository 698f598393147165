"""Children (tabular sections) both ways: stored in the model's list field, written back whole."""

from __future__ import annotations

from typing import Any

from mapping.compile import CompiledMapping, compile_mapping
from mapping.spec import mapping_from_text

COEXECUTORS = """
model: ticket
entity: Document_Интерес
fields:
  number: Number
children:
  co_executors:
    from: Соисполнители
    key: agent_id
    owner: newest
    fixed: {Роль: Соисполнитель}
    fields:
      agent_id: {from: Пользователь_Key, ref: agent}
"""


def compiled(text: str) -> CompiledMapping:
    found = mapping_from_text(text)
    assert found.spec is not None, found.problems
    return compile_mapping(found.spec)


def local_ids(model: str, remote_id: Any) -> int | None:
    """remote key 'u7' → local id 7; 'service' is a user never imported."""
    return None if remote_id == "service" else int(str(remote_id).removeprefix("u"))


def remote_keys(model: str, local_id: Any) -> str:
    return f"u{local_id}"


def test_rows_of_one_field_are_stored_as_the_list_of_its_values_in_the_remote_order() -> None:
    rows = [{"LineNumber": 1, "Пользователь_Key": "u7", "Роль": "Соисполнитель"},
            {"LineNumber": 2, "Пользователь_Key": "u3", "Роль": ""},
            {"LineNumber": 3, "Пользователь_Key": "u7", "Роль": "Соисполнитель"}]
    got = compiled(COEXECUTORS).to_canonical({"Number": "1", "Соисполнители": rows}, local_ids, creating=False)
    assert got["co_executors"] == [7, 3]


def test_a_row_pointing_at_a_user_not_imported_is_left_out_and_an_empty_section_is_an_empty_list() -> None:
    mapping = compiled(COEXECUTORS)
    rows = [{"LineNumber": 1, "Пользователь_Key": "service"}, {"LineNumber": 2, "Пользователь_Key": "u4"}]
    assert mapping.to_canonical({"Соисполнители": rows}, local_ids, creating=False)["co_executors"] == [4]
    assert mapping.to_canonical({"Соисполнители": []}, local_ids, creating=False)["co_executors"] == []


def test_a_written_child_sends_the_whole_section_with_its_fixed_fields() -> None:
    mapping = compiled(COEXECUTORS)
    sent = mapping.to_remote({"co_executors": [5, 2]}, remote_keys)
    assert sent == {"Соисполнители": [{"Пользователь_Key": "u5", "Роль": "Соисполнитель"},
                                      {"Пользователь_Key": "u2", "Роль": "Соисполнитель"}]}
    assert mapping.to_remote({"co_executors": []}, remote_keys) == {"Соисполнители": []}  # cleared: an empty section
    assert "co_executors" in mapping.local_fields
    assert mapping.owners["co_executors"] == "newest"


def test_a_remote_owned_child_is_imported_but_never_written() -> None:
    mapping = compiled(COEXECUTORS.replace("owner: newest", "owner: remote"))
    assert mapping.to_remote({"co_executors": [5]}, remote_keys) == {}
    assert "co_executors" not in mapping.local_fields


def test_a_new_record_writes_a_child_crm_bridge_shares() -> None:
    mapping = compiled(COEXECUTORS).writing_everything
    sent = mapping.to_remote({"number": "1", "co_executors": [9]}, remote_keys)
    assert sent["Соисполнители"] == [{"Пользователь_Key": "u9", "Роль": "Соисполнитель"}]
