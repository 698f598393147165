"""The exchange-plan change feed (SelectChanges / NotifyChangesReceived) over real HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

import pytest
import requests

from adapters.onec.emulator import Emulator

ATOM = "{http://www.w3.org/2005/Atom}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
PLAN = "ExchangePlan_CRMBridge"
EMULATOR_NOW = datetime(2024, 3, 20, 12, 0, 0)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=9, now=EMULATOR_NOW, exchange_package_size=3) as emulator:
        yield emulator


def point(emu: Emulator) -> str:
    node = emu.seed.exchange_nodes[PLAN]
    return quote(f"'{emu.base_url}{PLAN}(guid'{node}')'", safe="")


def select(emu: Emulator, session: requests.Session, number: int) -> list[tuple[str, dict[str, str]]]:
    response = session.post(f"{emu.base_url}SelectChanges?DataExchangePoint={point(emu)}"
                            f"&MessageNo={number}", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    entries = []
    for entry in feed.findall(f"{ATOM}entry"):
        category = entry.find(f"{ATOM}category")
        properties = entry.find(f"{ATOM}content/{M}properties")
        assert category is not None
        assert properties is not None
        entries.append((category.get("term", ""),
                        {child.tag.removeprefix(D): child.text or "" for child in properties}))
    return entries


def notify(emu: Emulator, session: requests.Session, number: int) -> None:
    response = session.post(f"{emu.base_url}NotifyChangesReceived?DataExchangePoint="
                            f"{point(emu)}&MessageNo={number}", timeout=10)
    assert response.status_code == 200


def node_counters(emu: Emulator, session: requests.Session) -> tuple[str, str]:
    nodes = session.get(f"{emu.base_url}{PLAN}?$format=json", timeout=10).json()["value"]
    bridge = next(n for n in nodes if not n["ThisNode"])
    return bridge["SentNo"], bridge["ReceivedNo"]


def test_nodes_list_this_node_and_the_bridge(emu: Emulator, onec_session: requests.Session) -> None:
    nodes = onec_session.get(f"{emu.base_url}{PLAN}?$format=json", timeout=10).json()["value"]
    assert sorted((n["Code"], n["ThisNode"]) for n in nodes) == [("CRMB", False), ("ЦБ", True)]
    assert all(n["ReceivedNo"] == "0" for n in nodes)


def test_no_changes_is_an_empty_feed(emu: Emulator, onec_session: requests.Session) -> None:
    assert select(emu, onec_session, 1) == []


def test_writes_arrive_in_packages_and_acknowledged_ones_go_away(
    emu: Emulator, onec_session: requests.Session
) -> None:
    docs = emu.records("Document_Интерес")[:5]
    for doc in docs:
        emu.update("Document_Интерес", doc["Ref_Key"], {"Комментарий": "правка"})
    first = select(emu, onec_session, 1)
    assert [props["Ref_Key"] for _, props in first] == [d["Ref_Key"] for d in docs[:3]]
    assert {term for term, _ in first} == {"StandardODATA.Document_Интерес"}
    assert first[0][1]["Комментарий"] == "правка"
    assert select(emu, onec_session, 1) == first  # a lost answer: ask again, same package
    notify(emu, onec_session, 1)
    assert node_counters(emu, onec_session) == ("1", "1")
    second = select(emu, onec_session, 2)
    assert [props["Ref_Key"] for _, props in second] == [d["Ref_Key"] for d in docs[3:]]
    notify(emu, onec_session, 2)
    assert select(emu, onec_session, 3) == []


def test_object_changed_after_sending_is_sent_again(
    emu: Emulator, onec_session: requests.Session
) -> None:
    ref = emu.records("Document_Интерес")[0]["Ref_Key"]
    emu.update("Document_Интерес", ref, {"Тема": "первая"})
    assert len(select(emu, onec_session, 1)) == 1
    emu.update("Document_Интерес", ref, {"Тема": "вторая"})
    notify(emu, onec_session, 1)
    again = select(emu, onec_session, 2)
    assert [(props["Ref_Key"], props["Тема"]) for _, props in again] == [(ref, "вторая")]


def test_odata_writes_and_simulated_user_edits_are_registered(
    emu: Emulator, onec_session: requests.Session
) -> None:
    created = onec_session.post(f"{emu.base_url}Catalog_Партнеры?$format=json",
                                json={"Description": "Новый"}, timeout=10).json()
    _, edited = emu.activity.step()
    refs = {props["Ref_Key"] for _, props in select(emu, onec_session, 1)}
    assert created["Ref_Key"] in refs
    assert edited in refs


def test_deletion_mark_arrives_as_a_changed_object(
    emu: Emulator, onec_session: requests.Session
) -> None:
    partner = emu.records("Catalog_Партнеры")[0]["Ref_Key"]
    onec_session.patch(f"{emu.base_url}Catalog_Партнеры(guid'{partner}')?$format=json",
                       json={"DeletionMark": True}, timeout=10)
    [(term, props)] = select(emu, onec_session, 1)
    assert term == "StandardODATA.Catalog_Партнеры"
    assert props["DeletionMark"] == "true"


def test_unknown_node_is_404_and_missing_message_number_is_400(
    emu: Emulator, onec_session: requests.Session
) -> None:
    bad = quote(f"'{emu.base_url}{PLAN}(guid'00000000-0000-0000-0000-000000000001')'", safe="")
    assert onec_session.post(f"{emu.base_url}SelectChanges?DataExchangePoint={bad}&MessageNo=1",
                             timeout=10).status_code == 404
    assert onec_session.post(f"{emu.base_url}SelectChanges?DataExchangePoint={point(emu)}",
                             timeout=10).status_code == 400


def test_register_existing_gives_a_full_initial_load() -> None:
    with Emulator(requests=10, now=EMULATOR_NOW, register_existing=True,
                  exchange_package_size=10_000) as emu, requests.Session() as session:
        session.auth = ("Администратор".encode(), b"demo")
        entries = select(emu, session, 1)
        terms = {term for term, _ in entries}
        assert "StandardODATA.Document_Интерес" in terms
        assert "StandardODATA.Catalog_Контрагенты" in terms
        assert len(entries) == sum(emu.seed.counts[name] for name in emu.seed.counts
                                   if not name.startswith("ExchangePlan_"))
