"""Indexed paging gives exactly what a full scan and sort would (the planner is only faster)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from adapters.onec.emulator import Emulator
from adapters.onec.refs import stored_order

NOW = datetime(2024, 3, 20, 12, 0, 0)
ROOT = "/crm/odata/standard.odata/"
AUTH = "Basic " + base64.b64encode("Администратор:demo".encode()).decode()


@pytest.fixture
def emu() -> Emulator:
    return Emulator(requests=500, seed=8, now=NOW)


def query(emu: Emulator, set_name: str = "Document_Интерес", **options: str) -> list[dict[str, Any]]:
    text = "&".join(f"${name}={quote(value, safe='')}" for name, value in options.items())
    response = emu.gateway("GET", ROOT + set_name, "$format=json&" + text,
                           {"authorization": AUTH}, b"", "http://x")
    assert response.status == 200, response.body
    return list(json.loads(response.body)["value"])


def test_keyset_pages_over_ref_key_cover_every_record_once_in_order(emu: Emulator) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = query(emu, filter=f"Ref_Key gt guid'{after}'" if after else "Posted eq Posted",
                     orderby="Ref_Key", top="70", select="Ref_Key")
        if not page:
            break
        seen += [row["Ref_Key"] for row in page]
        after = page[-1]["Ref_Key"]
    keys = [d["Ref_Key"] for d in emu.records("Document_Интерес")]
    # in 1C's order of references (by their stored bytes, last GUID groups first), not the text's
    assert seen == sorted(keys, key=stored_order)
    assert seen != sorted(keys)


def test_references_compare_and_sort_as_1c_stores_them() -> None:
    early, late = "ffffffff-0000-11e1-9c4e-0022642fda98", "00000000-0001-11e1-9c4e-0022642fda98"
    assert stored_order(early) < stored_order(late)  # the time's low bits lead the text, not the order
    assert stored_order("c0d776fd-0393-11e1-9c4e-0022642fda98") == "9c4e0022642fda9811e10393c0d776fd"
    emu = Emulator(requests=0, seed=1, now=NOW)
    keys = [d["Ref_Key"] for d in emu.records("Catalog_Партнеры")]
    assert keys
    middle = sorted(keys, key=stored_order)[len(keys) // 2]
    above = query(emu, "Catalog_Партнеры", filter=f"Ref_Key ge guid'{middle}'", select="Ref_Key")
    assert sorted(row["Ref_Key"] for row in above) == sorted(k for k in keys if stored_order(k) >= stored_order(middle))
    # bounds cut by the text sort below every key of a base: 1C's stored form starts with the clock sequence
    assert len(query(emu, "Catalog_Партнеры", filter="Ref_Key ge guid'80000000-0000-0000-0000-000000000000'",
                     select="Ref_Key")) == len(keys)


def test_or_chain_of_keys_returns_exactly_those_records(emu: Emulator) -> None:
    docs = emu.records("Document_Интерес")
    wanted = [docs[5]["Ref_Key"], docs[400]["Ref_Key"], "00000000-0000-0000-0000-000000000001"]
    chain = " or ".join(f"Ref_Key eq guid'{key}'" for key in wanted)
    assert sorted(row["Ref_Key"] for row in query(emu, filter=chain)) == sorted(wanted[:2])
    narrowed = query(emu, filter=f"({chain}) and Number eq '{docs[5]['Number']}'")
    assert [row["Ref_Key"] for row in narrowed] == [wanted[0]]


@pytest.mark.parametrize(("filter_text", "descending"), [
    ("Date ge datetime'2024-03-15T00:00:00' and Date lt datetime'2024-03-18T00:00:00'", True),
    ("Date gt datetime'2024-03-15T09:00:00' and Posted eq true", False),
    ("datetime'2024-03-12T00:00:00' ge Date", False),
    ("Date eq datetime'2024-03-19T10:00:00' or Posted eq false", True),
])
def test_date_windows_through_the_index_match_a_full_sort(
    emu: Emulator, filter_text: str, descending: bool
) -> None:
    direction = " desc" if descending else ""
    got = [row["Ref_Key"] for row in query(emu, filter=filter_text, orderby="Date" + direction)]
    docs = [d for d in emu.records("Document_Интерес") if _matches(d, filter_text)]
    expected_dates = sorted((d["Date"] for d in docs), reverse=descending)
    by_ref = {d["Ref_Key"]: d["Date"] for d in docs}
    assert [by_ref[ref] for ref in got] == expected_dates


def _matches(doc: dict[str, Any], filter_text: str) -> bool:
    date = doc["Date"]
    if filter_text.startswith("Date ge"):
        return "2024-03-15T00:00:00" <= date < "2024-03-18T00:00:00"
    if filter_text.startswith("Date gt"):
        return date > "2024-03-15T09:00:00" and doc["Posted"]
    if filter_text.startswith("datetime"):
        return date <= "2024-03-12T00:00:00"
    return date == "2024-03-19T10:00:00" or not doc["Posted"]


def test_index_follows_writes(emu: Emulator) -> None:
    first = query(emu, orderby="Date desc", top="1")[0]
    other = emu.records("Document_Интерес")[0]["Ref_Key"]
    emu.update("Document_Интерес", other, {"Date": "2024-03-20T11:59:59"})
    assert query(emu, orderby="Date desc", top="1")[0]["Ref_Key"] == other
    assert first["Ref_Key"] != other
    created = emu.gateway("POST", ROOT + "Catalog_Партнеры", "$format=json",
                          {"authorization": AUTH}, json.dumps({"Description": "Я"}).encode(),
                          "http://x")
    ref = json.loads(created.body)["Ref_Key"]
    keys = [row["Ref_Key"] for row in query(emu, "Catalog_Партнеры", orderby="Ref_Key")]
    assert ref in keys
    assert keys == sorted(keys, key=stored_order)


def test_ref_key_index_drops_deleted_objects() -> None:
    emu = Emulator(requests=30, seed=8, now=NOW, allow_delete=True)
    before = [row["Ref_Key"] for row in query(emu, orderby="Ref_Key")]
    gone = before[3]
    response = emu.gateway("DELETE", ROOT + f"Document_Интерес(guid'{gone}')", "$format=json",
                           {"authorization": AUTH}, b"", "http://x")
    assert response.status == 204
    assert [row["Ref_Key"] for row in query(emu, orderby="Ref_Key desc")] == [
        ref for ref in reversed(before) if ref != gone]


def test_or_chain_of_one_text_field_returns_exactly_the_matching_records_in_storage_order(emu: Emulator) -> None:
    """A client's look-up of its own keys (64 ``Field eq '…'`` joined with ``or``) gives what
    a scan judging each record gives: every record whose text equals one of them, in
    storage order, whatever order the filter names them in; and it sees a change at once."""
    docs = emu.records("Document_Интерес")
    numbers = [docs[i]["Number"] for i in (430, 7, 7, 250)] + ["нет такого", docs[3]["Number"].lower() + " "]
    chain = " or ".join(f"Number eq '{number}'" for number in numbers)
    expected = [d["Ref_Key"] for d in docs if d["Number"] in numbers]
    assert len(expected) == 3
    assert [row["Ref_Key"] for row in query(emu, filter=chain, select="Ref_Key")] == expected
    assert [row["Ref_Key"] for row in query(emu, filter=f"'{numbers[0]}' eq Number or {chain}")] == expected
    posted = [d["Ref_Key"] for d in docs if d["Number"] in numbers and d["Posted"]]
    assert [row["Ref_Key"] for row in query(emu, filter=f"({chain}) and Posted eq true")] == posted
    emu.update("Document_Интерес", docs[20]["Ref_Key"], {"Number": numbers[1]})
    assert [row["Ref_Key"] for row in query(emu, filter=chain)] == [docs[7]["Ref_Key"], docs[20]["Ref_Key"],
                                                                   docs[250]["Ref_Key"], docs[430]["Ref_Key"]]


def test_or_chain_over_two_fields_or_other_operators_is_judged_by_the_filter(emu: Emulator) -> None:
    docs = emu.records("Document_Интерес")
    first, second = docs[10]["Number"], docs[11]["Ref_Key"]
    mixed = f"Number eq '{first}' or Ref_Key eq guid'{second}'"
    assert [row["Ref_Key"] for row in query(emu, filter=mixed)] == [docs[10]["Ref_Key"], second]
    unequal = f"Number eq '{first}' or Number ne '{first}'"
    assert len(query(emu, filter=unequal, select="Ref_Key")) == len(docs)
