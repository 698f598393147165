"""`$filter` semantics of the 1C emulator, checked against the seeded data."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.onec.emulator import Emulator

NOW = datetime(2024, 3, 20, 12, 0, 0)
ROOT = "/crm/odata/standard.odata/"
AUTH = "Basic " + base64.b64encode("Администратор:demo".encode()).decode()
EMPTY_REF = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def emu() -> Emulator:
    emulator = Emulator(requests=400, seed=3, now=NOW)
    docs = emulator.records("Document_Интерес")
    # a deterministic co-executor and an apostrophe to search for
    emulator.update("Document_Интерес", docs[0]["Ref_Key"], {
        "Тема": "Клиент O'Brien: не работает печать",
        "Соисполнители": [{"LineNumber": 1, "Пользователь_Key": emulator.seed.agents[2],
                           "Роль": "Соисполнитель"}]})
    return emulator


def select(emu: Emulator, expression: str, set_name: str = "Document_Интерес") -> list[dict[str, Any]]:
    response = emu.gateway("GET", ROOT + set_name, "$format=json&$filter=" + quote(expression, safe=""),
                           {"authorization": AUTH}, b"", "http://x")
    body = json.loads(response.body)
    assert response.status == 200, body
    return list(body["value"])


def error(emu: Emulator, expression: str) -> tuple[int, str, str]:
    response = emu.gateway("GET", ROOT + "Document_Интерес",
                           "$format=json&$filter=" + quote(expression, safe=""),
                           {"authorization": AUTH}, b"", "http://x")
    err = json.loads(response.body)["odata.error"]
    return response.status, err["code"], err["message"]["value"]


def test_eq_on_a_reference_key(emu: Emulator) -> None:
    state = emu.seed.states["В работе"]
    rows = select(emu, f"Состояние_Key eq guid'{state}'")
    assert rows
    assert {r["Состояние_Key"] for r in rows} == {state}


def test_navigation_name_compares_like_its_key(emu: Emulator) -> None:
    state = emu.seed.states["Новое"]
    by_nav = select(emu, f"Состояние eq guid'{state}'")
    assert [r["Ref_Key"] for r in by_nav] == [
        r["Ref_Key"] for r in select(emu, f"Состояние_Key eq guid'{state}'")]


def test_date_window_with_datetime_literals(emu: Emulator) -> None:
    rows = select(emu, "Date ge datetime'2024-03-19T00:00:00' and Date lt datetime'2024-03-20T00:00:00'")
    assert rows
    assert all(r["Date"].startswith("2024-03-19") for r in rows)


def test_substringof_is_case_insensitive_like_1c_like(emu: Emulator) -> None:
    rows = select(emu, "substringof('o''brien', Тема)")
    assert [r["Тема"] for r in rows] == ["Клиент O'Brien: не работает печать"]
    assert select(emu, "substringof('O''Brien', Тема) eq true") == rows


def test_startswith_and_not(emu: Emulator) -> None:
    urgent = select(emu, "startswith(Тема, 'Срочно')")
    assert urgent
    assert all(r["ВидОбращения"] == "СрочныйЗапрос" for r in urgent)
    others = select(emu, "not startswith(Тема, 'Срочно')")
    assert len(urgent) + len(others) == 400


def test_year_function(emu: Emulator) -> None:
    assert len(select(emu, "year(Date) eq 2024")) == 400
    assert select(emu, "year(Date) eq 2023") == []


def test_or_and_parentheses(emu: Emulator) -> None:
    rows = select(emu, "(ВидОбращения eq 'Консультация' or ВидОбращения eq 'СрочныйЗапрос') and Posted eq true")
    assert rows
    assert all(r["ВидОбращения"] in ("Консультация", "СрочныйЗапрос") and r["Posted"] for r in rows)


def test_cast_matches_the_composite_value_and_its_type(emu: Emulator) -> None:
    doc = next(r for r in emu.records("Document_Интерес") if r["Основание"])
    basis_type = doc["Основание_Type"].removeprefix("StandardODATA.")
    rows = select(emu, f"Основание eq cast(guid'{doc['Основание']}', '{basis_type}')")
    assert [r["Ref_Key"] for r in rows] == [doc["Ref_Key"]]
    assert select(emu, f"Основание eq cast(guid'{doc['Основание']}', 'Document_Встреча')") == []


def test_any_over_a_tabular_section(emu: Emulator) -> None:
    agent = emu.seed.agents[2]
    rows = select(emu, f"Соисполнители/any(d: d/Пользователь_Key eq guid'{agent}')")
    assert rows
    assert all(any(s["Пользователь_Key"] == agent for s in r["Соисполнители"]) for r in rows)


def test_navigation_path_reads_the_referenced_object(emu: Emulator) -> None:
    partner = emu.records("Catalog_Партнеры")[0]
    description = partner["Description"].replace("'", "''")
    rows = select(emu, f"Партнер/Description eq '{description}'")
    partners_named = {p["Ref_Key"] for p in emu.records("Catalog_Партнеры")
                      if p["Description"] == partner["Description"]}
    assert rows
    assert {r["Партнер_Key"] for r in rows} <= partners_named


def test_contacts_by_owner_key(emu: Emulator) -> None:
    partner = emu.records("Catalog_Партнеры")[0]["Ref_Key"]
    rows = select(emu, f"Owner_Key eq guid'{partner}'", "Catalog_КонтактныеЛицаПартнеров")
    assert 1 <= len(rows) <= 3


def test_unknown_property_in_filter_is_400_code_14(emu: Emulator) -> None:
    status, code, message = error(emu, "Тэма eq 'x'")
    assert (status, code) == (400, "14")
    assert "Тэма" in message


def test_type_mismatch_is_400_code_14(emu: Emulator) -> None:
    assert error(emu, "Posted eq 'да'")[:2] == (400, "14")


def test_non_boolean_filter_is_400_code_14(emu: Emulator) -> None:
    assert error(emu, "Тема")[:2] == (400, "14")


def test_unknown_function_is_400_code_14(emu: Emulator) -> None:
    assert error(emu, "contains(Тема, 'x')")[:2] == (400, "14")


def test_arithmetic_on_numbers(emu: Emulator) -> None:
    rows = select(emu, "РеквизитДопУпорядочивания add 1 eq 3", "Catalog_СостоянияИнтересов")
    assert [r["Description"] for r in rows] == ["В работе"]


def test_null_comparison_matches_undefined_composites(emu: Emulator) -> None:
    rows = select(emu, "Основание eq null")
    assert rows
    assert all(r["Основание_Type"] == "StandardODATA.Undefined" for r in rows)


ATOMS = (
    "Posted eq true",
    "DeletionMark eq false",
    "ВидОбращения eq 'Консультация'",
    "Date ge datetime'2024-03-15T00:00:00'",
    "substringof('не', Тема)",
    "Важность ne 'Низкая'",
    "year(Date) eq 2024",
    "Соисполнители/any(d: d/Роль eq 'Соисполнитель')",
    "Ответственный_Key eq guid'00000000-0000-0000-0000-000000000000'",
)


def _tree() -> st.SearchStrategy[tuple[str, frozenset[int]]]:
    """(filter text, indexes of the atoms it is built from) — the set algebra decides."""
    leaves = st.sampled_from(range(len(ATOMS))).map(lambda i: (ATOMS[i], ("atom", i)))

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            children.map(lambda c: (f"not ({c[0]})", ("not", c[1]))),
            st.tuples(children, children).map(lambda p: (f"({p[0][0]}) and ({p[1][0]})",
                                                         ("and", p[0][1], p[1][1]))),
            st.tuples(children, children).map(lambda p: (f"({p[0][0]}) or ({p[1][0]})",
                                                         ("or", p[0][1], p[1][1]))),
        )

    return st.recursive(leaves, extend, max_leaves=6)  # type: ignore[return-value]


def _expected(tree: Any, atoms: list[set[str]], everything: set[str]) -> set[str]:
    kind = tree[0]
    if kind == "atom":
        return atoms[tree[1]]
    if kind == "not":
        return everything - _expected(tree[1], atoms, everything)
    left, right = _expected(tree[1], atoms, everything), _expected(tree[2], atoms, everything)
    return left & right if kind == "and" else left | right


@pytest.fixture(scope="module")
def atom_sets(emu: Emulator) -> tuple[set[str], list[set[str]]]:
    everything = {r["Ref_Key"] for r in emu.records("Document_Интерес")}
    return everything, [{r["Ref_Key"] for r in select(emu, atom)} for atom in ATOMS]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_tree())
def test_compiled_filters_follow_boolean_algebra(
    emu: Emulator, atom_sets: tuple[set[str], list[set[str]]], case: Any
) -> None:
    text, tree = case
    everything, atoms = atom_sets
    refs = {r["Ref_Key"] for r in query_refs(emu, text)}
    assert refs == _expected(tree, atoms, everything)


def query_refs(emu: Emulator, expression: str) -> list[dict[str, Any]]:
    response = emu.gateway("GET", ROOT + "Document_Интерес", "$format=json&$select=Ref_Key&$filter="
                           + quote(expression, safe=""), {"authorization": AUTH}, b"", "http://x")
    assert response.status == 200, response.body
    return list(json.loads(response.body)["value"])
