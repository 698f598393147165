"""The `$filter` tokenizer and parser of the 1C emulator (pure: no schema, no socket)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.onec.emulator.query import (
    Binary,
    Call,
    FilterSyntaxError,
    Lambda,
    Literal,
    LiteralSyntaxError,
    Path,
    Unary,
    normalize_datetime,
    parse_filter,
    parse_orderby,
)


def test_doubled_apostrophe_is_one_apostrophe_inside_a_string_literal() -> None:
    expr = parse_filter("Description eq 'ООО ''Ромашка'''")
    assert isinstance(expr, Binary)
    assert expr.right == Literal("ООО 'Ромашка'", "string", "ООО 'Ромашка'")


def test_and_binds_tighter_than_or() -> None:
    expr = parse_filter("Posted eq true or DeletionMark eq true and Number eq '1'")
    assert isinstance(expr, Binary)
    assert expr.op == "or"
    assert isinstance(expr.right, Binary)
    assert expr.right.op == "and"


def test_parentheses_override_precedence() -> None:
    expr = parse_filter("(Posted eq true or DeletionMark eq true) and Number eq '1'")
    assert isinstance(expr, Binary)
    assert expr.op == "and"


def test_not_applies_to_the_following_primary() -> None:
    expr = parse_filter("not substringof('x', Тема)")
    assert isinstance(expr, Unary)
    assert isinstance(expr.operand, Call)


def test_guid_literal_is_normalized_to_lower_case() -> None:
    expr = parse_filter("Ref_Key eq guid'9C41D2E0-7A3B-11EE-9F10-0A1B2C3D4E01'")
    assert isinstance(expr, Binary)
    assert expr.right == Literal("9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01", "guid",
                                 "9C41D2E0-7A3B-11EE-9F10-0A1B2C3D4E01")


def test_datetime_literal_without_seconds_gets_them() -> None:
    assert normalize_datetime("2024-01-02T03:04") == "2024-01-02T03:04:00"
    assert normalize_datetime("2024-13-02T03:04:05") is None


def test_bad_guid_literal_is_a_literal_error_not_a_syntax_error() -> None:
    with pytest.raises(LiteralSyntaxError):
        parse_filter("Ref_Key eq guid'not-a-guid'")


def test_nested_paths_and_lambdas_parse() -> None:
    expr = parse_filter("Соисполнители/any(d: d/Пользователь_Key eq guid'51e0aa01-4c00-11ee-8c4a-0a1b2c3d4e01')")
    assert isinstance(expr, Lambda)
    assert expr.collection == Path(("Соисполнители",), 0)
    assert expr.variable == "d"
    assert isinstance(expr.body, Binary)
    assert isinstance(expr.body.left, Path)
    assert expr.body.left.parts == ("d", "Пользователь_Key")


def test_cast_is_a_function_call_with_a_type_name() -> None:
    expr = parse_filter("Основание eq cast(guid'9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01', 'Document_X')")
    assert isinstance(expr, Binary)
    assert isinstance(expr.right, Call)
    assert expr.right.name == "cast"
    assert expr.right.args[1] == Literal("Document_X", "string", "Document_X")


def test_numbers_become_int_or_decimal() -> None:
    expr = parse_filter("year(Date) eq 2024 and Сумма gt 10.5")
    assert isinstance(expr, Binary)
    assert isinstance(expr.left, Binary)
    assert expr.left.right == Literal(2024, "number", "2024")


@pytest.mark.parametrize(
    "text",
    ["Posted eq", "(Posted eq true", "Posted eq true)", "Тема eq 'unterminated",
     "eq true", "Тема eq 'a' and", "", "Тема # 'a'", "A/ eq 1"],
)
def test_malformed_filters_raise_a_syntax_error_with_a_position(text: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    assert caught.value.position >= 0


def test_orderby_items_carry_their_direction() -> None:
    items = parse_orderby("Date desc, Number asc,Тема")
    assert [(item.parts, desc) for item, desc in items if isinstance(item, Path)] == [
        (("Date",), True), (("Number",), False), (("Тема",), False)]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_either_parses_or_raises_a_syntax_error(text: str) -> None:
    with contextlib.suppress(FilterSyntaxError):
        parse_filter(text)


@given(st.text(max_size=30))
def test_any_string_round_trips_through_a_quoted_literal(value: str) -> None:
    quoted = "'" + value.replace("'", "''") + "'"
    expr = parse_filter(f"Тема eq {quoted}")
    assert isinstance(expr, Binary)
    assert expr.right == Literal(value, "string", value)
