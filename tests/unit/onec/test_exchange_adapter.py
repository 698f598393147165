"""The 1C backend's side of the change feed, with ``responses`` (no socket): entries to
records by type, what becomes a problem, a lost acknowledgement; the configuration."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from pydantic import ValidationError

from adapters.onec.adapter import OneCBackend
from adapters.onec.config import OneCODataConfig
from adapters.onec.errors import OneCUnavailable
from adapters.onec.exchange import ExchangeFeed
from adapters.onec.odata import ODataClient
from mapping.load import load_mapping
from mapping.spec import MappingSpec
from sync.source import supports_change_feed, supports_version_scan

BASE = "http://1c.test/crm/odata/standard.odata/"
EDMX = Path(__file__).resolve().parents[3] / "adapters" / "onec" / "emulator" / "data" / "metadata.edmx"
MAPPINGS = Path(__file__).resolve().parents[3] / "adapters" / "onec" / "data" / "mappings"
NODE = "5f0e6c1a-0000-4000-8000-00000000c0de"
PARTNER = "9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01"
OTHER = "9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e02"
MOSCOW = ZoneInfo("Europe/Moscow")


def config(**extra: object) -> OneCODataConfig:
    return OneCODataConfig.model_validate({"kind": "onec_odata", "url": BASE, "username": "Администратор",
                                           "password": "demo", "change_detection": "exchange_plan", **extra})


@pytest.fixture
def onec_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        yield api


def metadata(api: responses.RequestsMock) -> None:
    api.get(f"{BASE}$metadata", body=EDMX.read_bytes(), content_type="application/xml")


@pytest.fixture
def specs() -> dict[str, MappingSpec]:
    return {"customer": load_mapping(MAPPINGS / "customer.yaml")}


def node_answer(api: responses.RequestsMock, received: int = 0) -> None:
    api.get(re.compile(re.escape(BASE) + "ExchangePlan_CRMBridge.*"),
            json={"value": [{"Ref_Key": NODE, "Code": "CRMB", "ThisNode": False, "ReceivedNo": received}]})


def entry(term: str, props: str) -> str:
    return (f'<entry><category term="StandardODATA.{term}"/><content type="application/xml"><m:properties>'
            f"{props}</m:properties></content></entry>")


def partner(key: str, *, name: str = "ООО Ромашка", version: str = "AAAAAAAAAAE=", extra: str = "") -> str:
    return entry("Catalog_Партнеры", (
        f'<d:Ref_Key m:type="Edm.Guid">{key}</d:Ref_Key><d:DataVersion>{version}</d:DataVersion>'
        f'<d:DeletionMark m:type="Edm.Boolean">false</d:DeletionMark><d:Description>{name}</d:Description>'
        '<d:НаименованиеПолное>ООО «Ромашка»</d:НаименованиеПолное><d:Клиент m:type="Edm.Boolean">true</d:Клиент>'
        '<d:КонтактнаяИнформация m:type="Collection(StandardODATA.Catalog_Партнеры_КонтактнаяИнформация_RowType)">'
        '<d:element m:type="StandardODATA.Catalog_Партнеры_КонтактнаяИнформация_RowType">'
        f'<d:Ref_Key m:type="Edm.Guid">{key}</d:Ref_Key><d:LineNumber m:type="Edm.Int64">1</d:LineNumber>'
        '<d:Тип>АдресЭлектроннойПочты</d:Тип><d:АдресЭП>Office@Romashka.example</d:АдресЭП></d:element>'
        "</d:КонтактнаяИнформация>"
        f"{extra}"))


def feed(*entries: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
            'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
            + "".join(entries) + "</feed>").encode()


def select_changes(api: responses.RequestsMock, body: bytes, number: int = 1) -> None:
    api.post(re.compile(re.escape(BASE) + f"SelectChanges\\?DataExchangePoint=.*&MessageNo={number}$"), body=body,
             content_type="application/atom+xml")


def backend() -> OneCBackend:
    b = OneCBackend("crm", config())
    b.client.read_retries = 0
    return b


def test_the_exchange_plan_mode_offers_the_feed_and_keeps_version_scans() -> None:
    b = backend()
    assert supports_change_feed(b)
    assert supports_version_scan(b)
    assert b.feed_name == "CRMBridge/CRMB"
    assert not supports_change_feed(OneCBackend("crm", config(change_detection="version_scan")))


def test_entries_become_records_of_the_model_whose_entity_is_their_type(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER)))
    package = backend().feed_package(specs, 1)
    [record] = package.records["customer"]
    assert (record.id, record.version, record.deleted) == (PARTNER, "AAAAAAAAAAE=", False)
    assert record.values["Description"] == "ООО Ромашка"
    assert set(record.values) <= set(specs["customer"].remote_fields())  # what a by-key read would hold
    assert package.problems == []


def test_a_folder_in_a_package_is_no_record_but_gone(onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    # element text without m:type, as a real package sends it (INTERFACE.md §7a)
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER), partner(OTHER, name="Ключевые клиенты", extra="<d:IsFolder>true</d:IsFolder>")))
    package = backend().feed_package(specs, 1)
    assert [r.id for r in package.records["customer"]] == [PARTNER]
    assert package.gone == {"customer": [OTHER]}  # a binding made under folders: include is tombstoned
    assert package.problems == []


def test_a_type_no_mapping_covers_is_a_problem_unless_ignored_on_purpose(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    company = entry("Catalog_Контрагенты", f'<d:Ref_Key m:type="Edm.Guid">{OTHER}</d:Ref_Key>')
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER), company))
    package = backend().feed_package(specs, 1)
    [(reason, shown)] = package.problems
    assert "Catalog_Контрагенты" in reason
    assert "ignore_types" in reason
    assert OTHER in shown
    assert len(package.records["customer"]) == 1
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER), company))
    relaxed = OneCBackend("crm", config(exchange_plan={"ignore_types": ["StandardODATA.Catalog_Контрагенты"]}))
    package = relaxed.feed_package(specs, 1)
    assert (package.problems, package.ignored) == ([], 1)


def test_a_register_record_set_has_no_ref_key_and_can_be_ignored_all_the_same(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    """A register's record set (key: its dimensions) in the plan: without a mapping it is a
    problem naming its type, and listing the type in ignore_types clears it."""
    register = entry("InformationRegister_ДополнительныеСведения",
                     f'<d:Объект m:type="Edm.Guid">{PARTNER}</d:Объект><d:Свойство_Key m:type="Edm.Guid">{OTHER}</d:Свойство_Key>'
                     '<d:Значение>VIP</d:Значение>')
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER), register))
    package = backend().feed_package(specs, 1)
    [(reason, shown)] = package.problems
    assert reason.startswith("InformationRegister_ДополнительныеСведения: no mapping covers this type")
    assert "VIP" in shown
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER), register))
    relaxed = OneCBackend("crm", config(exchange_plan={"ignore_types": ["InformationRegister_ДополнительныеСведения"]}))
    package = relaxed.feed_package(specs, 1)
    assert (package.problems, package.ignored, len(package.records["customer"])) == ([], 1, 1)


def test_a_mapped_entry_without_its_key_is_a_problem(onec_api: responses.RequestsMock,
                                                     specs: dict[str, MappingSpec]) -> None:
    keyless = entry("Catalog_Партнеры", '<d:Description>ООО Ромашка</d:Description>')
    node_answer(onec_api)
    select_changes(onec_api, feed(keyless))
    [(reason, _)] = backend().feed_package(specs, 1).problems
    assert reason == "Catalog_Партнеры: entry without Ref_Key"


def test_a_package_over_the_cap_is_a_problem_of_the_feed_read_once_not_retried_in_place(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    """The same package comes back as large: retrying it in place only downloads it again.
    As a problem it is parked after a few passes, and version scans stand in."""
    node_answer(onec_api)
    select_changes(onec_api, feed(partner(PARTNER, name="Ы" * 600_000)))  # 1.2 MB in UTF-8
    capped = OneCBackend("crm", config(exchange_plan={"max_package_mb": 1}))
    assert capped.client.read_retries > 0
    package = capped.feed_package(specs, 1)
    [(reason, raw)] = package.problems
    assert "over 1 MB" in reason
    assert "exchange_plan.max_package_mb" in reason
    assert (raw, package.records, package.empty) == ("", {}, False)
    assert sum("SelectChanges" in c.request.url for c in onec_api.calls) == 1


def real(key: str, *, mark: str = "false", name: str = "ООО Ромашка", version: str = "AAAAAAAAAAE=") -> str:
    """A partner as a real 1C package writes it: no m:type anywhere, every value text."""
    return entry("Catalog_Партнеры", (
        f"<d:Ref_Key>{key}</d:Ref_Key><d:DataVersion>{version}</d:DataVersion><d:DeletionMark>{mark}</d:DeletionMark>"
        f"<d:Description>{name}</d:Description><d:НаименованиеПолное/><d:Клиент>true</d:Клиент>"
        "<d:КонтактнаяИнформация/>"))


def test_values_without_m_type_are_typed_from_metadata_so_false_is_not_deleted(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(real(PARTNER, mark="false"), real(OTHER, mark="true")))
    package = backend().feed_package(specs, 1)
    live, marked = package.records["customer"]
    assert (live.id, live.deleted, live.values["DeletionMark"]) == (PARTNER, False, False)
    assert (marked.id, marked.deleted, marked.values["DeletionMark"]) == (OTHER, True, True)
    assert live.values["НаименованиеПолное"] == ""  # an empty element is an empty string, not None
    assert (live.invalid, package.problems) == (None, [])


def test_an_m_type_in_the_payload_is_not_trusted_over_metadata(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    """The type comes from $metadata: a payload claiming DeletionMark is a string changes nothing."""
    lying = entry("Catalog_Партнеры", (
        f'<d:Ref_Key>{PARTNER}</d:Ref_Key><d:DataVersion>AAAAAAAAAAE=</d:DataVersion>'
        '<d:DeletionMark m:type="Edm.String">false</d:DeletionMark><d:Description>А</d:Description>'
        '<d:НаименованиеПолное/><d:КонтактнаяИнформация/>'))
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(lying))
    [record] = backend().feed_package(specs, 1).records["customer"]
    assert record.values["DeletionMark"] is False


def test_a_value_not_of_its_declared_type_makes_the_record_invalid_naming_the_field(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(real(OTHER, mark="maybe"), real(PARTNER)))
    package = backend().feed_package(specs, 1)
    bad, good = package.records["customer"]
    assert bad.id == OTHER
    assert bad.invalid is not None
    assert "DeletionMark: 'maybe' is not a boolean, true or false (Edm.Boolean)" in bad.invalid
    assert "correct the value in 1C" in bad.invalid
    assert bad.values["DeletionMark"] == "maybe"  # as 1C sent it, for the person who looks
    assert (good.invalid, good.values["DeletionMark"]) == (None, False)


def test_a_key_only_entry_whose_mark_is_no_boolean_is_a_problem_not_a_deletion(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    broken = entry("Catalog_Партнеры", f"<d:Ref_Key>{OTHER}</d:Ref_Key><d:DeletionMark>maybe</d:DeletionMark>")
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(broken))
    package = backend().feed_package(specs, 1)
    [(reason, raw)] = package.problems
    assert reason == f"Catalog_Партнеры {OTHER}: DeletionMark: 'maybe' is not a boolean, true or false (Edm.Boolean)"
    assert OTHER in raw
    assert (package.gone, package.empty) == ({}, False)


def test_an_object_deleted_outright_is_listed_as_gone(onec_api: responses.RequestsMock,
                                                       specs: dict[str, MappingSpec]) -> None:
    gone = entry("Catalog_Партнеры", f"<d:Ref_Key>{OTHER}</d:Ref_Key><d:DeletionMark>true</d:DeletionMark>")
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(gone))
    package = backend().feed_package(specs, 1)
    assert package.gone == {"customer": [OTHER]}
    assert package.records == {}


def tombstone(entity_set: str, key: str) -> str:
    return (f'<at:deleted-entry xmlns:at="http://purl.org/atompub/tombstones/1.0" '
            f"ref=\"{BASE}{entity_set}(guid'{key}')\" when=\"2026-11-20T12:00:00+03:00\"/>")


def test_an_atom_tombstone_is_a_deletion_of_the_object_its_ref_names(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    node_answer(onec_api)
    select_changes(onec_api, feed(tombstone("Catalog_Партнеры", OTHER), tombstone("Catalog_Контрагенты", PARTNER)))
    package = backend().feed_package(specs, 1)
    assert package.gone == {"customer": [OTHER]}
    [(reason, shown)] = package.problems  # a type no mapping covers: not let go silently
    assert reason.startswith(f"Catalog_Контрагенты {PARTNER}: no mapping covers this type")
    assert package.records == {}


def test_an_entry_lacking_a_mapped_field_is_read_again_by_key(onec_api: responses.RequestsMock,
                                                               specs: dict[str, MappingSpec]) -> None:
    short = entry("Catalog_Партнеры", f'<d:Ref_Key m:type="Edm.Guid">{OTHER}</d:Ref_Key>'
                  '<d:DataVersion>AAAAAAAAAAI=</d:DataVersion><d:DeletionMark m:type="Edm.Boolean">false</d:DeletionMark>')
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(short))
    onec_api.get(re.compile(re.escape(BASE) + "Catalog_.*"), json={"value": [
        {"Ref_Key": OTHER, "DataVersion": "AAAAAAAAAAI=", "DeletionMark": False, "Description": "Полная",
         "НаименованиеПолное": "", "Клиент": True}]})
    [record] = backend().feed_package(specs, 1).records["customer"]
    assert record.values["Description"] == "Полная"


def test_an_entry_lacking_a_mapped_field_whose_object_is_gone_when_read_again_is_a_deletion(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    """Deleted outright after 1C registered it, but sent with more than its key and mark."""
    short = entry("Catalog_Партнеры", f'<d:Ref_Key m:type="Edm.Guid">{OTHER}</d:Ref_Key>'
                  '<d:DataVersion>AAAAAAAAAAI=</d:DataVersion><d:DeletionMark m:type="Edm.Boolean">true</d:DeletionMark>')
    metadata(onec_api)
    node_answer(onec_api)
    select_changes(onec_api, feed(short, partner(PARTNER)))
    onec_api.get(re.compile(re.escape(BASE) + "Catalog_.*"), json={"value": []})
    package = backend().feed_package(specs, 1)
    assert package.gone == {"customer": [OTHER]}
    assert [r.id for r in package.records["customer"]] == [PARTNER]


def test_dates_in_entries_are_read_in_the_backends_time_zone(onec_api: responses.RequestsMock) -> None:
    spec = load_mapping(MAPPINGS / "ticket.yaml")
    metadata(onec_api)
    node_answer(onec_api)
    fields = {name: "" for name in spec.remote_fields()}
    fields |= {"Ref_Key": PARTNER, "DataVersion": "AAAAAAAAAAE=", "DeletionMark": "false", "Date": "2026-11-20T11:00:00",
               "ДатаЗавершения": "0001-01-01T00:00:00", "Партнер_Key": "00000000-0000-0000-0000-000000000000",
               "СрокИсполнения": "0001-01-01T00:00:00", "НарушениеSLA": "true"}
    props = "".join(f"<d:{k}>{v}</d:{k}>" for k, v in fields.items())  # as real 1C writes them: no m:type
    select_changes(onec_api, feed(entry("Document_Интерес", props)))
    onec_api.get(re.compile(re.escape(BASE) + "Catalog_.*"), json={"value": []})  # the state names (lookup)
    [record] = backend().feed_package({"ticket": spec}, 1).records["ticket"]
    assert record.values["Date"] == datetime(2026, 11, 20, 11, 0, tzinfo=MOSCOW)
    assert record.values["ДатаЗавершения"] is None
    assert record.values["Партнер_Key"] is None
    assert record.values["НарушениеSLA"] is True
    assert (record.deleted, record.invalid) == (False, None)


def test_a_lost_answer_to_an_acknowledgement_1c_took_is_settled_by_received_no(onec_api: responses.RequestsMock) -> None:
    node_answer(onec_api, received=0)
    onec_api.post(re.compile(re.escape(BASE) + "NotifyChangesReceived.*"), body=requests.ConnectionError("reset"))
    node_answer(onec_api, received=4)
    backend().feed_acknowledge(4)


def test_a_lost_acknowledgement_1c_did_not_take_goes_to_the_caller(onec_api: responses.RequestsMock) -> None:
    node_answer(onec_api, received=0)
    onec_api.post(re.compile(re.escape(BASE) + "NotifyChangesReceived.*"), body=requests.ConnectionError("reset"))
    node_answer(onec_api, received=3)
    with pytest.raises(OneCUnavailable, match="NotifyChangesReceived #4"):
        backend().feed_acknowledge(4)


@pytest.mark.parametrize(("settings", "message"), [
    ({"exchange_plan": {"name": "ExchangePlan_CRMBridge"}}, "without the ExchangePlan_ prefix: 'CRMBridge'"),
    ({"exchange_plan": {"name": "1План"}}, "not a 1C metadata name"),
    ({"exchange_plan": {"node": " CRMB"}}, "leading or trailing spaces"),
    ({"exchange_plan": {"node": ""}}, "at least 1 character"),
    ({"exchange_plan": {"ignore_types": ["Контрагенты"]}}, "not a 1C object type"),
    ({"exchange_plan": {"nodes": "CRMB"}}, "Extra inputs"),
    ({"change_detection": "version_scan", "exchange_plan": {}}, "set change_detection: exchange_plan"),
    ({"change_detection": "exchange"}, "'version_scan', 'full' or 'exchange_plan'"),
])
def test_the_exchange_plan_settings_are_validated_with_the_fix_in_the_message(settings: dict[str, object],
                                                                              message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        config(**settings)


def test_the_exchange_plan_defaults_are_the_shipped_plan_and_node() -> None:
    feed = config().feed
    assert (feed.name, feed.node, feed.ignore_types) == ("CRMBridge", "CRMB", [])
    assert json.loads(config(exchange_plan={"node": "Мост"}).model_dump_json())["exchange_plan"]["node"] == "Мост"


def test_the_exchange_point_of_a_cyrillic_publication_is_percent_encoded_once(onec_api: responses.RequestsMock) -> None:
    base = "http://1c.test/%D1%86%D1%80%D0%BC/odata/standard.odata/"  # publication «црм», as pydantic's URL keeps it
    onec_api.get(re.compile(re.escape(base) + ".*"),
                 json={"value": [{"Ref_Key": NODE, "Code": "CRMB", "ThisNode": False, "ReceivedNo": 0}]})
    onec_api.post(re.compile(re.escape(base) + "SelectChanges\\?.*"), body=feed(), content_type="application/atom+xml")
    client = ODataClient(name="crm", base_url=base, username="Администратор", password="demo")
    ExchangeFeed(client, plan="ОбменCRM", node_code="CRMB").read(1)
    sent = parse_qs(urlsplit(onec_api.calls[-1].request.url or "").query)  # decodes once, as 1C does
    assert sent["DataExchangePoint"] == [f"'http://1c.test/црм/odata/standard.odata/ExchangePlan_ОбменCRM(guid'{NODE}')'"]
    assert sent["MessageNo"] == ["1"]
    client.close()


def _query(call: responses.Call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url or "").query).items()}


def test_key_range_bounds_are_keys_at_equal_steps_of_1cs_own_order(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    """1C compares references in an order of its own (by their stored form, last GUID groups
    first, on most bases): bounds cut by the text would leave all but one slice empty. The
    bounds are the keys 1C itself finds at positions 2, 5 and 7 of 10, each asked after the
    one before, and they are taken in the order 1C gave them, never sorted here."""
    keys = {2: "5a0e1f00-0393-11e1-9c4e-0022642fda98", 5: "7f3a9e10-0394-11e1-9c4e-0022642fda98",
            7: "01b2c3d4-0395-11e1-9c4e-0022642fda98"}  # increasing in 1C's order, not as text
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"odata.count": "10", "value": []})
    for position in sorted(keys):
        onec_api.get(f"{BASE}Catalog_Партнеры", json={"value": [{"Ref_Key": keys[position]}]})
    backend = OneCBackend("crm", config(change_detection="version_scan"))
    ranges = backend.key_ranges(specs["customer"], 4)
    assert ranges == [(None, keys[2]), (keys[2], keys[5]), (keys[5], keys[7]), (keys[7], None)]
    counted, *probes = [_query(c) for c in onec_api.calls]
    assert counted == {"$format": "json", "$select": "Ref_Key", "$top": "0", "$inlinecount": "allpages"}
    # position 2; 2 past the key at 2 (positions 3, 4) is 5; 1 past the key at 5 is 7
    assert [(p.get("$filter"), p["$skip"]) for p in probes] == [
        (None, "2"), (f"Ref_Key gt guid'{keys[2]}'", "2"), (f"Ref_Key gt guid'{keys[5]}'", "1")]
    assert all(p["$orderby"] == "Ref_Key" and p["$top"] == "1" and p["$select"] == "Ref_Key" for p in probes)


def test_key_ranges_of_a_set_smaller_than_the_slices_leave_the_extra_slices_empty(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    only = "5a0e1f00-0393-11e1-9c4e-0022642fda98"
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"odata.count": "1", "value": []})
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"value": [{"Ref_Key": only}]})  # positions 0, 0, 0: asked once
    ranges = OneCBackend("crm", config(change_detection="version_scan")).key_ranges(specs["customer"], 4)
    assert ranges == [(None, only), (only, only), (only, only), (only, None)]  # [k, k) holds nothing
    assert len(onec_api.calls) == 2
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"odata.count": "oops", "value": []})
    refused = OneCBackend("crm", config(change_detection="version_scan"))
    refused.client.read_retries = 0  # the fault reaches the caller at once (it is retried in place otherwise)
    with pytest.raises(OneCUnavailable, match="no 'odata.count'"):
        refused.key_ranges(specs["customer"], 2)


def test_key_ranges_of_a_set_that_shrinks_between_the_probes_leave_the_last_slices_empty(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    first = "5a0e1f00-0393-11e1-9c4e-0022642fda98"
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"odata.count": "10", "value": []})
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"value": [{"Ref_Key": first}]})
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"value": []})  # deleted meanwhile: nothing that far after it
    ranges = OneCBackend("crm", config(change_detection="version_scan")).key_ranges(specs["customer"], 4)
    assert ranges == [(None, first), (first, first), (first, first), (first, None)]
    assert len(onec_api.calls) == 3  # no probe after the end


def test_key_range_bounds_follow_the_order_1c_answers_in_whatever_it_is(
        onec_api: responses.RequestsMock, specs: dict[str, MappingSpec]) -> None:
    """A base may compare keys as text, as its stored form or as SQL Server's
    uniqueidentifier: what 1C returns after a cut is after it in 1C's order, so it is the
    next cut, even where another order would put it first."""
    low, high = "00000000-0001-11e1-9c4e-0022642fda98", "ffffffff-0000-11e1-9c4e-0022642fda98"
    onec_api.get(f"{BASE}Catalog_Партнеры", json={"odata.count": "3", "value": []})
    for key in (high, low):  # descending as text, as a base ordering keys some other way may answer
        onec_api.get(f"{BASE}Catalog_Партнеры", json={"value": [{"Ref_Key": key}]})
    ranges = OneCBackend("crm", config(change_detection="version_scan")).key_ranges(specs["customer"], 3)
    assert ranges == [(None, high), (high, low), (low, None)]
    assert _query(onec_api.calls[-1])["$filter"] == f"Ref_Key gt guid'{high}'"
