"""The exchange-plan change feed client against the emulator, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.onec.emulator import Emulator
from adapters.onec.errors import OneCRejected, OneCUnavailable
from adapters.onec.exchange import ExchangeFeed, parse_feed
from adapters.onec.odata import ODataClient

DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=20, seed=4, users={"Администратор": "demo"}) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> Iterator[ODataClient]:
    c = ODataClient(name="crm", base_url=emulator.base_url, username="Администратор", password="demo")
    yield c
    c.close()


def test_changes_arrive_once_and_are_gone_after_the_acknowledgement(emulator: Emulator, client: ODataClient) -> None:
    feed = ExchangeFeed(client, plan="CRMBridge", node_code="CRMB")
    docs = emulator.records(DOC)[:2]
    for doc in docs:
        emulator.update(DOC, doc["Ref_Key"], {"Тема": "изменено"})
    package = feed.read(feed.received_no() + 1)
    assert sorted(e.values["Ref_Key"] for e in package.entries) == sorted(d["Ref_Key"] for d in docs)
    assert {e.type_name for e in package.entries} == {DOC}
    assert all(e.values["Тема"] == "изменено" for e in package.entries)
    feed.acknowledge(package.message_no)
    assert feed.received_no() == package.message_no
    assert feed.read(package.message_no + 1).entries == []


def test_a_lost_answer_is_read_again_with_the_same_number(emulator: Emulator, client: ODataClient) -> None:
    feed = ExchangeFeed(client, plan="CRMBridge", node_code="CRMB")
    emulator.update(DOC, emulator.records(DOC)[0]["Ref_Key"], {"Тема": "1"})
    first = feed.read(1)
    again = feed.read(1)  # the answer to the first call was "lost"
    assert [e.values["Ref_Key"] for e in again.entries] == [e.values["Ref_Key"] for e in first.entries]
    assert feed.received_no() == 0  # nothing acknowledged yet


def test_an_unknown_node_says_what_to_create(client: ODataClient) -> None:
    with pytest.raises(OneCRejected, match="no node with code 'NOPE'"):
        ExchangeFeed(client, plan="CRMBridge", node_code="NOPE").received_no()


def test_entries_come_back_as_the_wire_text_and_unparsable_ones_are_kept_aside_not_dropped() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices"
      xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
      xmlns:at="http://purl.org/atompub/tombstones/1.0">
 <entry><category term="StandardODATA.Catalog_X"/><content type="application/xml"><m:properties>
   <d:Ref_Key>00000000-0000-0000-0000-000000000001</d:Ref_Key><d:Version>AAAAAAAAAAE=</d:Version>
   <d:DeletionMark m:type="Edm.Boolean">false</d:DeletionMark><d:Code m:null="true"/>
   <d:Rows m:type="Collection(StandardODATA.Catalog_X_Rows_RowType)"><d:element><d:LineNumber>1</d:LineNumber>
   </d:element></d:Rows><d:Empty m:type="Collection(StandardODATA.Catalog_X_Empty_RowType)"/></m:properties></content></entry>
 <entry><content type="application/xml"><m:properties>
   <d:Ref_Key>00000000-0000-0000-0000-000000000002</d:Ref_Key></m:properties></content></entry>
 <at:deleted-entry ref="http://1c/crm/odata/standard.odata/Catalog_%D0%A5(guid'00000000-0000-0000-0000-000000000003')"
   when="2026-11-20T12:00:00+03:00"/>
 <at:deleted-entry ref="http://1c/crm/odata/standard.odata/Catalog_X" when="2026-11-20T12:00:00+03:00"/>
</feed>"""
    package = parse_feed(body, 7)
    first, removed = package.entries
    assert first.values["DataVersion"] == "AAAAAAAAAAE="  # "Version" in the docs, DataVersion on the wire
    assert first.values["DeletionMark"] == "false"  # text: typed from $metadata by the backend, not by m:type
    assert first.values["Code"] is None
    assert (first.values["Rows"], first.values["Empty"]) == ([{"LineNumber": "1"}], "")
    assert not first.removed
    assert (removed.type_name, removed.values, removed.removed) == (
        "Catalog_Х", {"Ref_Key": "00000000-0000-0000-0000-000000000003"}, True)
    (no_type, entry_xml), (no_key, tomb_xml) = package.unparsed
    assert no_type == "entry without category/@term: its object type is unknown"
    assert "00000000-0000-0000-0000-000000000002" in entry_xml
    assert "names no object" in no_key
    assert "Catalog_X" in tomb_xml


def test_a_body_that_is_not_a_feed_is_an_error_never_no_changes() -> None:
    with pytest.raises(OneCUnavailable, match="instead of an Atom feed"):
        parse_feed(b'<?xml version="1.0"?><html><body>Service Unavailable</body></html>', 1)
    with pytest.raises(OneCUnavailable, match="not XML"):
        parse_feed(b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>', 1)

