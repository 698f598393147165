"""The emulator's ``ref_order``: references compare in ``$filter`` and sort in ``$orderby``
in one order, the base's (1C's stored form by default, the text, or SQL Server's
``uniqueidentifier``), whichever path a query takes (a sorted index or a full sort)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest

from adapters.onec.emulator import Emulator
from adapters.onec.emulator.__main__ import main
from adapters.onec.refs import REF_ORDERS, stored_order, text_order, uniqueidentifier_order

NOW = datetime(2024, 3, 20, 12, 0, 0)
ROOT = "/crm/odata/standard.odata/"
AUTH = "Basic " + base64.b64encode("Администратор:demo".encode()).decode()
DOC = "Document_Интерес"


def query(emu: Emulator, set_name: str = DOC, **options: str) -> list[dict[str, Any]]:
    text = "&".join(f"${name}={quote(value, safe='')}" for name, value in options.items())
    response = emu.gateway("GET", ROOT + set_name, "$format=json&" + text, {"authorization": AUTH}, b"", "http://x")
    assert response.status == 200, response.body
    return list(json.loads(response.body)["value"])


def keyset_walk(emu: Emulator, *, start: str | None = None, before: str | None = None) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        conds = [f"Ref_Key gt guid'{after}'"] if after else []
        conds += [f"Ref_Key ge guid'{start}'"] if start else []
        conds += [f"Ref_Key lt guid'{before}'"] if before else []
        page = query(emu, orderby="Ref_Key", top="40", select="Ref_Key", **({"filter": " and ".join(conds)} if conds else {}))
        if not page:
            return seen
        seen += [row["Ref_Key"] for row in page]
        after = page[-1]["Ref_Key"]


def test_the_three_orders_of_a_reference() -> None:
    guid = "c0d776fd-0393-11e1-9c4e-0022642fda98"
    assert stored_order(guid) == "9c4e0022642fda98" "11e1" "0393" "c0d776fd"
    assert text_order(guid) == guid
    # SqlGuid compares bytes 10-15, 8-9, 6-7, 4-5, 0-3 of the little-endian first groups
    assert uniqueidentifier_order(guid) == "0022642fda98" "9c4e" "e111" "9303" "fd76d7c0"
    assert sorted(REF_ORDERS) == ["binary", "text", "uniqueidentifier"]


@pytest.mark.parametrize("name", sorted(REF_ORDERS))
def test_keyset_pages_and_range_filters_follow_one_order(name: str) -> None:
    emu = Emulator(requests=300, seed=4, now=NOW, ref_order=name)
    order = REF_ORDERS[name]
    keys = [str(d["Ref_Key"]) for d in emu.records(DOC)]
    ordered = sorted(keys, key=order)
    assert keyset_walk(emu) == ordered
    start, before = ordered[70], ordered[190]
    assert keyset_walk(emu, start=start, before=before) == ordered[70:190]  # the sorted index, entered at the bounds
    # without $orderby the predicate alone judges every row, in storage order
    inside = query(emu, filter=f"Ref_Key ge guid'{start}' and Ref_Key lt guid'{before}'", select="Ref_Key")
    assert sorted(row["Ref_Key"] for row in inside) == sorted(ordered[70:190])
    below = query(emu, filter=f"Ref_Key le guid'{start}'", select="Ref_Key")
    assert len(below) == 71
    # a reference attribute sorts the same way, through the index and through a full sort
    partners = [row["Партнер_Key"] for row in query(emu, orderby="Партнер_Key", select="Партнер_Key")]
    assert partners == sorted(partners, key=order)
    pairs = [(row["Партнер_Key"], row["Number"]) for row in query(emu, orderby="Партнер_Key desc,Number",
                                                                  select="Партнер_Key,Number")]
    assert [p for p, _ in pairs] == sorted((p for p, _ in pairs), key=order, reverse=True)


def test_the_text_order_disagrees_with_the_stored_ones_on_a_generated_base() -> None:
    """Generated keys are time-based GUIDs of one machine (one last group), so 1C's stored
    form and SQL Server's order agree on them; the text leads with the clock's low bits."""
    keys = [str(d["Ref_Key"]) for d in Emulator(requests=100, seed=4, now=NOW).records(DOC)]
    by_text, by_stored, by_sql = (sorted(keys, key=REF_ORDERS[n]) for n in ("text", "binary", "uniqueidentifier"))
    assert by_text != by_stored
    assert by_text != by_sql


@pytest.mark.parametrize("name", sorted(REF_ORDERS))
def test_a_key_created_after_the_index_was_built_takes_its_place_in_the_order(name: str) -> None:
    emu = Emulator(requests=100, seed=4, now=NOW, ref_order=name)
    keyset_walk(emu)  # builds the sorted index
    created = "7fffffff-7fff-7fff-7fff-7fffffffffff"
    emu.store.create(DOC, {"Тема": "Звонок"}, created)
    keys = [str(d["Ref_Key"]) for d in emu.records(DOC)]
    assert created in keys
    assert keyset_walk(emu) == sorted(keys, key=REF_ORDERS[name])


def test_an_unknown_order_is_refused_with_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"ref_order 'sql': .*valid: binary, text, uniqueidentifier"):
        Emulator(requests=100, ref_order="sql")
    with pytest.raises(SystemExit) as caught:
        main(["--ref-order", "sql"])
    assert caught.value.code == 2
    assert "uniqueidentifier" in capsys.readouterr().err
