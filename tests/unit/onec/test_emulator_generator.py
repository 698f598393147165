"""The seeded demo base: deterministic, realistic, and shaped like 1C data."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

import pytest

from adapters.onec.emulator import Emulator
from adapters.onec.emulator.inn import valid_inn

NOW = datetime(2024, 3, 20, 12, 0, 0)
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(requests=2000, seed=5, now=NOW)


def test_same_seed_and_now_give_the_same_base() -> None:
    first = Emulator(requests=100, seed=42, now=NOW).records("Document_Интерес")
    second = Emulator(requests=100, seed=42, now=NOW).records("Document_Интерес")
    other = Emulator(requests=100, seed=43, now=NOW).records("Document_Интерес")
    assert first == second
    assert first != other


def test_sizes_follow_the_parameters(emu: Emulator) -> None:
    counts = emu.seed.counts
    assert counts["Document_Интерес"] == 2000
    assert counts["Catalog_Партнеры"] == 400 + 3  # and three partner folders
    assert counts["Catalog_Контрагенты"] == 400
    assert 400 <= counts["Catalog_КонтактныеЛицаПартнеров"] <= 1200
    assert counts["Catalog_Пользователи"] == 9
    assert Emulator(requests=20, seed=1, now=NOW, folders=False).seed.counts["Catalog_Партнеры"] == 10


def test_partners_are_filed_under_folders_and_the_service_user_is_marked(emu: Emulator) -> None:
    partners = emu.records("Catalog_Партнеры")
    folders = {p["Ref_Key"] for p in partners if p["IsFolder"]}
    assert set(emu.seed.folders) == folders
    assert sorted(emu.seed.folders.values()) == ["Ключевые клиенты", "Прочие", "Розница"]
    filed = [p for p in partners if not p["IsFolder"] and p["Parent_Key"] != EMPTY_REF]
    assert {p["Parent_Key"] for p in filed} == folders
    assert 0.25 < len(filed) / 400 < 0.42
    users = emu.records("Catalog_Пользователи")
    assert [u["Ref_Key"] for u in users if u["Служебный"]] == [emu.seed.service_user]


def test_folders_change_nothing_else_of_the_base() -> None:
    with_folders = Emulator(requests=50, seed=7, now=NOW)
    without = Emulator(requests=50, seed=7, now=NOW, folders=False)
    assert with_folders.records("Document_Интерес") == without.records("Document_Интерес")
    def unfiled(partner: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in partner.items() if not k.startswith("Parent")}

    kept = {p["Ref_Key"]: unfiled(p) for p in with_folders.records("Catalog_Партнеры") if not p["IsFolder"]}
    assert kept == {p["Ref_Key"]: unfiled(p) for p in without.records("Catalog_Партнеры")}


def test_requests_are_untouched_by_the_bridge(emu: Emulator) -> None:
    docs = emu.records("Document_Интерес")
    assert {d["СрокИсполнения"] for d in docs} == {EMPTY_DATE}
    assert {d["СрокПервогоОтвета"] for d in docs} == {EMPTY_DATE}
    assert {d["НарушениеSLA"] for d in docs} == {False}


def test_dates_lie_in_the_14_days_before_now_and_numbers_follow_dates(emu: Emulator) -> None:
    docs = emu.records("Document_Интерес")
    earliest = (NOW - timedelta(days=14)).isoformat()
    assert all(earliest <= d["Date"] < NOW.isoformat() for d in docs)
    assert [d["Number"] for d in docs] == [f"CRM-{n:07d}" for n in range(1, 2001)]
    assert [d["Date"] for d in docs] == sorted(d["Date"] for d in docs)


def test_type_mix_matches_the_brief(emu: Emulator) -> None:
    kinds = Counter(d["ВидОбращения"] for d in emu.records("Document_Интерес"))
    assert 0.40 < kinds["ТехническаяПроблема"] / 2000 < 0.50
    assert 0.25 < kinds["Консультация"] / 2000 < 0.35
    assert 0.11 < kinds["БлагодарностьЖалоба"] / 2000 < 0.19
    assert 0.07 < kinds["СрочныйЗапрос"] / 2000 < 0.13


def test_most_requests_are_open_and_closed_ones_have_a_completion_date(emu: Emulator) -> None:
    names = {s["Ref_Key"]: (s["Description"], s["Завершающее"])
             for s in emu.records("Catalog_СостоянияИнтересов")}
    docs = emu.records("Document_Интерес")
    open_docs = [d for d in docs if names[d["Состояние_Key"]][0] in
                 ("Новое", "В работе", "Ожидает ответа клиента")]
    assert len(open_docs) > len(docs) / 2
    for doc in docs:
        state, final = names[doc["Состояние_Key"]]
        if final or state == "Решено":
            assert doc["Date"] < doc["ДатаЗавершения"] <= NOW.isoformat()
        else:
            assert doc["ДатаЗавершения"] == EMPTY_DATE


def test_state_catalog_marks_only_closed_and_cancelled_as_final(emu: Emulator) -> None:
    states = {s["Description"]: s["Завершающее"] for s in emu.records("Catalog_СостоянияИнтересов")}
    assert states == {"Новое": False, "В работе": False, "Ожидает ответа клиента": False,
                      "Решено": False, "Закрыто": True, "Отменено": True}


def test_deletion_marked_requests_are_never_posted(emu: Emulator) -> None:
    docs = emu.records("Document_Интерес")
    marked = [d for d in docs if d["DeletionMark"]]
    assert marked
    assert not any(d["Posted"] for d in marked)
    assert sum(d["Posted"] for d in docs) > 0.85 * len(docs)


def test_counterparties_have_valid_inn_and_kpp(emu: Emulator) -> None:
    for company in emu.records("Catalog_Контрагенты"):
        assert valid_inn(company["ИНН"]), company["ИНН"]
        if company["ЮрФизЛицо"] == "ИндивидуальныйПредприниматель":
            assert len(company["ИНН"]) == 12
            assert company["КПП"] == ""
        else:
            assert len(company["ИНН"]) == 10
            assert re.fullmatch(r"\d{9}", company["КПП"])


def test_references_point_at_existing_objects(emu: Emulator) -> None:
    partners = {p["Ref_Key"] for p in emu.records("Catalog_Партнеры")}
    contacts = {c["Ref_Key"]: c["Owner_Key"] for c in emu.records("Catalog_КонтактныеЛицаПартнеров")}
    users = {u["Ref_Key"] for u in emu.records("Catalog_Пользователи")}
    for doc in emu.records("Document_Интерес"):
        assert doc["Партнер_Key"] in partners
        if doc["КонтактноеЛицо_Key"] != EMPTY_REF:
            assert contacts[doc["КонтактноеЛицо_Key"]] == doc["Партнер_Key"]
        assert doc["Ответственный_Key"] in users | {EMPTY_REF}


def test_contacts_carry_phone_and_email_rows(emu: Emulator) -> None:
    contact = emu.records("Catalog_КонтактныеЛицаПартнеров")[0]
    kinds = {r["Тип"]: r for r in contact["КонтактнаяИнформация"]}
    assert kinds["Телефон"]["НомерТелефона"].startswith("+7 9")
    assert kinds["АдресЭлектроннойПочты"]["АдресЭП"].endswith(".example")


def test_service_user_is_flagged(emu: Emulator) -> None:
    service = emu.get("Catalog_Пользователи", emu.seed.service_user)
    assert service is not None
    assert (service["Description"], service["Служебный"]) == ("Интеграция (служебный)", True)


def test_inn_check_digits() -> None:
    assert valid_inn("7707083893")  # a well-known published organisation ИНН
    assert not valid_inn("7707083894")
    assert valid_inn("500100732259")
    assert not valid_inn("500100732258")
