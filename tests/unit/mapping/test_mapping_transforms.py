"""Properties of the transform library: idempotence, round trips, no crash on any text."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from mapping.compile import compile_mapping
from mapping.spec import MappingSpec
from mapping.transforms import TRANSFORMS, Transform

MSK = ZoneInfo("Europe/Moscow")


def make(name: str, arg: Any = None, zone: ZoneInfo | None = None) -> Transform:
    return TRANSFORMS[name].make(arg, zone)


def undo(name: str, arg: Any = None, zone: ZoneInfo | None = None) -> Transform:
    found = TRANSFORMS[name].undo
    assert found is not None
    return found(arg, zone)


@given(st.text())
def test_text_normalisations_are_idempotent(text: str) -> None:
    for name in ("strip", "lower", "digits", "phone_e164", "empty_to_none"):
        fn = make(name)
        once = fn(text)
        assert fn(once) == once if once is not None else True


@given(st.text())
def test_digits_keeps_exactly_the_digits(text: str) -> None:
    assert make("digits")(text) == "".join(c for c in text if c in "0123456789")


national = st.text(alphabet="0123456789", min_size=10, max_size=10).filter(lambda d: d[0] != "0")


@given(national)
def test_every_way_of_writing_a_russian_number_gives_the_same_e164(digits: str) -> None:
    phone = make("phone_e164")
    spaced = f"{digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    written = [digits, f"8 ({digits[:3]}) {digits[3:]}", f"+7 {spaced}", f"8{digits}", f"7{digits}"]
    assert {phone(w) for w in written} == {"+7" + digits}


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_number_reads_integers_with_thousands_separators(n: int) -> None:
    number = make("number")
    assert number(str(n)) == n
    assert number(f"{n:,}".replace(",", "\u00a0")) == n


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9))
def test_number_reads_decimal_commas(value: Decimal) -> None:
    text = f"{value:.2f}".replace(".", ",")
    assert make("number")(text) == value


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)))
def test_date_with_a_format_round_trips_through_write_back(moment: datetime) -> None:
    fmt = "%d.%m.%Y %H:%M"
    local = moment.replace(second=0, microsecond=0)
    parsed = make("date", fmt, MSK)(local.strftime(fmt))
    assert parsed.tzinfo is not None
    assert parsed.replace(tzinfo=None) == local
    assert undo("date", fmt, MSK)(parsed) == local.strftime(fmt)


@given(st.datetimes(timezones=st.just(MSK)))
def test_iso_dates_with_an_offset_keep_the_instant(moment: datetime) -> None:
    parsed = make("date", None, ZoneInfo("UTC"))(moment.isoformat())
    assert parsed - moment == timedelta(0)


parts = st.lists(st.text(alphabet=st.characters(blacklist_characters=";", blacklist_categories=("Cs", "Z", "Cc")), min_size=1), max_size=6)


@given(parts)
def test_split_undoes_join(values: list[str]) -> None:
    joined = undo("split", ";")(values)
    assert make("split", ";")(joined) == values


@given(st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=5))
def test_concat_never_leaves_doubled_or_dangling_separators(values: list[str | None]) -> None:
    text = make("concat", " ")({str(i): v for i, v in enumerate(values)})
    assert text == text.strip()
    assert "  " not in text or any(v and "  " in v.strip() for v in values)


@given(st.dictionaries(st.text(alphabet="абвгдеёжзabcdef", min_size=1, max_size=8), st.integers(), min_size=1, max_size=8))
def test_a_one_to_one_value_map_round_trips(table: dict[str, int]) -> None:
    inverse: dict[int, str] = {}
    for remote, canonical in table.items():
        inverse.setdefault(canonical, remote)
    one_to_one = {remote: f"v{canonical}" for canonical, remote in inverse.items()}
    spec = MappingSpec.model_validate({"model": "ticket", "entity": "E", "fields": {
        "sla_policy": {"from": "P", "map": one_to_one, "owner": "newest"}}})
    mapping = compile_mapping(spec)
    for remote in one_to_one:
        canonical = mapping.to_canonical({"P": remote}, lambda m, i: i, creating=True)
        assert mapping.to_remote(canonical, lambda m, i: i) == {"P": remote}


CONTACT_ROWS = [
    {"LineNumber": 1, "Тип": "Телефон", "НомерТелефона": "+7 495 123-45-67", "АдресЭП": ""},
    {"LineNumber": 2, "Тип": "АдресЭлектроннойПочты", "НомерТелефона": "", "АдресЭП": "Office@Client.example"},
    {"LineNumber": 3, "Тип": "АдресЭлектроннойПочты", "НомерТелефона": "", "АдресЭП": "second@client.example"},
]


def test_row_takes_a_column_of_the_first_matching_row_of_a_tabular_section() -> None:
    email = make("row", {"where": {"Тип": "АдресЭлектроннойПочты"}, "take": "АдресЭП"})
    phone = make("row", {"where": {"Тип": "Телефон"}, "take": "НомерТелефона"})
    assert email(CONTACT_ROWS) == "Office@Client.example"  # the first of two
    assert phone(CONTACT_ROWS) == "+7 495 123-45-67"
    assert make("row", {"where": {"Тип": "Факс"}, "take": "АдресЭП"})(CONTACT_ROWS) is None
    assert email([]) is None
    assert email("not rows") is None  # a damaged section reads as no value, not a crash


def test_a_mapping_reads_e_mail_from_contact_rows_and_refuses_a_bad_row_argument() -> None:
    from mapping.spec import mapping_from_text
    from mapping.validate import check_offline

    good = mapping_from_text("""
model: customer
entity: Catalog_Партнеры
fields:
  name: Description
  email: {from: КонтактнаяИнформация, transform: [{row: {where: {Тип: АдресЭлектроннойПочты}, take: АдресЭП}}, strip, lower]}
""")
    assert good.spec is not None
    assert not check_offline(good)
    compiled = compile_mapping(good.spec)
    values = compiled.to_canonical({"Description": "ООО Ромашка", "КонтактнаяИнформация": CONTACT_ROWS}, None, creating=True)
    assert values["email"] == "office@client.example"
    bad = mapping_from_text("""
model: customer
entity: Catalog_Партнеры
fields:
  name: Description
  email: {from: КонтактнаяИнформация, transform: [{row: {take: [АдресЭП]}}]}
""")
    assert bad.spec is not None
    (problem,) = check_offline(bad)
    assert "row needs {where: {column: value}, take: column}" in problem
    assert ":6:" in problem  # the file's line of the email field
