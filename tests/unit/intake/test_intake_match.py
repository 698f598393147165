"""Who wrote: e-mail, then a phone, then an ИНН; several customers is a review, never a guess."""

from __future__ import annotations

import pytest

from intake.match import (
    ContactIndex,
    find_phones,
    find_tax_ids,
    match_by_scanning,
    match_sender,
    normalise_phone,
    valid_inn,
)

CUSTOMERS = [(1, "info@romashka.ru", "+7 (495) 123-45-67", "7707083893"), (2, "office@lyutik.ru", None, "500100732259"),
             (3, None, "8 812 000-00-01", None)]
CONTACTS = [(10, 1, "ivan@romashka.ru", "+79161234567"), (11, 2, "shared@mail.ru", None), (12, 3, "shared@mail.ru", None),
            (13, 1, "duty@romashka.ru", None), (14, 1, "duty@romashka.ru", None)]


@pytest.fixture
def index() -> ContactIndex:
    return ContactIndex.build(CUSTOMERS, CONTACTS)


@pytest.mark.parametrize("written", ["+7 (495) 123-45-67", "8 495 1234567", "84951234567", "+74951234567", "4951234567",
                                     "7-495-123-45-67"])
def test_russian_phone_formats_normalise_alike(written: str) -> None:
    assert normalise_phone(written) == "74951234567"


def test_not_a_russian_phone() -> None:
    assert normalise_phone("+44 20 7946 0958") is None
    assert normalise_phone("123") is None


@pytest.mark.parametrize(("inn", "ok"), [("7707083893", True), ("7707083894", False), ("500100732259", True),
                                         ("500100732258", False), ("770708389", False), ("77070838931", False)])
def test_inn_checksums(inn: str, ok: bool) -> None:
    assert valid_inn(inn) is ok


def test_phones_and_tax_ids_are_found_in_a_signature() -> None:
    text = "С уважением, Иван\nтел. 8 (916) 123-45-67, ИНН 7707083893, заказ 1234567890"
    assert find_phones(text) == ["79161234567"]
    assert find_tax_ids(text) == ["7707083893"]  # 1234567890 fails the checksum


def test_a_contacts_address_names_the_contact_and_its_customer(index: ContactIndex) -> None:
    decided = match_sender(index, "Ivan@Romashka.ru")
    assert (decided.outcome, decided.rule, decided.customer_id, decided.contact_id) == ("matched", "email", 1, 10)


def test_a_customers_own_address_names_the_customer_without_a_contact(index: ContactIndex) -> None:
    decided = match_sender(index, "office@lyutik.ru")
    assert (decided.customer_id, decided.contact_id) == (2, None)


def test_an_unknown_address_is_matched_by_the_phone_in_the_text(index: ContactIndex) -> None:
    decided = match_sender(index, "someone@gmail.com", "звоните: +7 916 123 45 67")
    assert (decided.outcome, decided.rule, decided.customer_id, decided.contact_id) == ("matched", "phone 79161234567", 1, 10)


def test_then_by_the_tax_id(index: ContactIndex) -> None:
    decided = match_sender(index, "someone@gmail.com", "ИНН 500100732259")
    assert (decided.outcome, decided.rule, decided.customer_id) == ("matched", "tax_id 500100732259", 2)


def test_an_address_two_customers_share_goes_to_review(index: ContactIndex) -> None:
    decided = match_sender(index, "shared@mail.ru")
    assert decided.outcome == "ambiguous"
    assert {c.customer_id for c in decided.candidates} == {2, 3}
    assert "2 customers" in decided.explain()


def test_two_contacts_of_one_customer_sharing_an_address_name_the_customer_only(index: ContactIndex) -> None:
    decided = match_sender(index, "duty@romashka.ru")
    assert (decided.outcome, decided.customer_id, decided.contact_id) == ("matched", 1, None)


def test_nobody_is_a_new_contact(index: ContactIndex) -> None:
    decided = match_sender(index, "new@gmail.com", "без подписи")
    assert (decided.outcome, decided.customer_id) == ("new", None)


def test_the_naive_scan_decides_as_the_index_does(index: ContactIndex) -> None:
    for email, text in [("ivan@romashka.ru", ""), ("x@y.ru", "ИНН 7707083893"), ("shared@mail.ru", ""), ("n@n.ru", "")]:
        assert match_by_scanning(CUSTOMERS, CONTACTS, email, text).outcome == match_sender(index, email, text).outcome
