"""What the 1C adapter asks for over real HTTP (issue #7 point 1): ``$select`` of the mapped
fields only (a version scan: key, version and deletion mark), keyset pages by ``Ref_Key``
read one at a time, key lookups in batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from sqlalchemy import select

from adapters.onec.adapter import DEFAULT_MAPPINGS
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.errors import OneCRequestTooLong
from adapters.onec.refs import stored_order
from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow
from mapping.load import load_mapping
from sync.tables import BindingRow

DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=45, seed=4, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def seen(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """The backend and, for each GET of the request set it makes, its decoded query options."""
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    page_size: 10\n    scan_page_size: 20\n")
    backend = app.backend("demo-1c")
    calls: list[dict[str, Any]] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        url = urlsplit(response.url)
        if unquote(url.path).endswith(DOC):
            calls.append({k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()})

    backend.client.session.hooks["response"].append(record)
    yield backend, calls
    app.close()


def test_a_full_read_selects_the_mapped_fields_in_keyset_pages(seen: tuple[Any, list[dict[str, Any]]]) -> None:
    backend, calls = seen
    spec = load_mapping(backend.mappings_dir / "ticket.yaml")
    pages = backend.read(spec)
    first = next(pages)
    assert (len(first), len(calls)) == (10, 1)  # one page in memory, the next not asked for yet
    rest = list(pages)
    assert sum(map(len, [first, *rest])) == 45
    # once a second page is needed, 1C is asked once for the count that bounds the pass
    [counted] = [call for call in calls if "$inlinecount" in call]
    assert (counted["$top"], counted["$select"]) == ("0", "Ref_Key")
    calls[:] = [call for call in calls if call is not counted]
    assert all(call["$select"].split(",") == spec.remote_fields() for call in calls)
    assert all((call["$orderby"], call["$top"], call["$format"]) == ("Ref_Key", "10", "json") for call in calls)
    keys = [r.id for page in [first, *rest] for r in page]
    assert keys == sorted(keys, key=stored_order)  # 1C's order of references, not the text's
    assert calls[1]["$filter"] == f"Ref_Key gt guid'{first[-1].id}'"


def test_a_version_scan_selects_key_version_and_mark_only_and_fetches_changed_keys_in_batches(
    seen: tuple[Any, list[dict[str, Any]]]
) -> None:
    backend, calls = seen
    spec = load_mapping(backend.mappings_dir / "ticket.yaml")
    stubs = [s for page in backend.scan(spec) for s in page]
    assert len(stubs) == 45
    assert {call["$select"] for call in calls if "$inlinecount" not in call} == {"Ref_Key,DataVersion,DeletionMark"}
    calls.clear()
    records = backend.fetch(spec, [s.id for s in stubs])
    assert {r.id for r in records} == {s.id for s in stubs}
    # the ticket's 23 Cyrillic $select names (Соисполнители too) leave room for 9 keys in IIS's 2,048 bytes
    assert [call["$filter"].count(" or ") + 1 for call in calls] == [9, 9, 9, 9, 9]
    assert all(call["$select"].split(",") == spec.remote_fields() for call in calls)


def test_a_web_server_with_a_shorter_query_limit_is_named_and_then_fitted(emulator: Emulator, tmp_path: Path) -> None:
    emulator.max_query_string = 1600  # an IIS whose maxQueryString was lowered
    text = demo_config(emulator.base_url, tmp_path / "s.db")
    app = App.from_text(text)
    backend = app.backend("demo-1c")
    spec = load_mapping(backend.mappings_dir / "ticket.yaml")
    keys = [s.id for page in backend.scan(spec) for s in page]
    with pytest.raises(OneCRequestTooLong, match=r"HTTP 404\.15.*set max_query_string"):
        backend.fetch(spec, keys)
    app.close()
    fitted = App.from_text(text + "    max_query_string: 1600\n")
    assert {r.id for r in fitted.backend("demo-1c").fetch(spec, keys)} == set(keys)
    fitted.close()


def test_a_composite_reference_is_read_as_the_mapped_model_only_where_its_type_names_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    """«Основание» may point at a partner, a phone call or a letter (``Основание_Type``): mapped
    as a customer, only a partner is one; the others are empty, and never looked for among
    the partners."""
    maps = tmp_path / "maps"
    maps.mkdir()
    defaults = load_mapping(DEFAULT_MAPPINGS / "ticket.yaml")
    for source in DEFAULT_MAPPINGS.glob("*.yaml"):
        text = source.read_text(encoding="utf-8")
        (maps / source.name).write_text(text.replace("customer_id: {from: Партнер_Key, ref: customer}",
                                                     "customer_id: {from: Основание, ref: customer}"), encoding="utf-8")
    assert "Основание" not in defaults.remote_fields()
    live = [d for d in emulator.records(DOC) if not d["DeletionMark"]]
    partner = emulator.records("Catalog_Партнеры")[0]["Ref_Key"]
    chosen = live[0]["Ref_Key"]
    emulator.update(DOC, chosen, {"Основание": partner, "Основание_Type": "StandardODATA.Catalog_Партнеры"})
    elsewhere = {d["Основание"] for d in emulator.records(DOC) if d["Основание_Type"].startswith("StandardODATA.Document_")}
    assert elsewhere  # the emulator's requests are based on calls and letters
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + f'    mappings: "{maps}"\n')
    asked: list[str] = []
    app.backend("demo-1c").client.session.hooks["response"].append(lambda r, *a, **k: asked.append(unquote(r.url)))
    try:
        app.upgrade_db()
        result = app.run_job("sync.pull")["demo-1c"]
        assert result["ticket"]["failed"] == 0
        assert any(DOC in url and "Основание_Type" in url for url in asked)  # read with the type beside the key
        assert not [url for url in asked if any(key in url for key in elsewhere)]  # no partner looked up by a call's key
        findings = app.backend("demo-1c").check()
        assert any("Основание may point at other kinds of object" in f["detail"] and "Catalog_Партнеры" in f["detail"]
                   for f in findings)
        with app.store.transaction() as s:
            customers = {str(k): v for k, v in s.execute(select(BindingRow.remote_id, TicketRow.customer_id)
                                                          .join(TicketRow, TicketRow.id == BindingRow.local_id)
                                                          .where(BindingRow.model == "ticket"))}
            partner_local = s.scalar(select(BindingRow.local_id).where(BindingRow.model == "customer",
                                                                       BindingRow.remote_id == partner))
        assert customers[chosen] == partner_local is not None
        assert {v for k, v in customers.items() if k != chosen} == {None}
    finally:
        app.close()


def test_a_mapping_changed_to_a_composite_reference_is_read_with_its_type_at_once(
    seen: tuple[Any, list[dict[str, Any]]], emulator: Emulator
) -> None:
    backend, calls = seen
    spec = load_mapping(backend.mappings_dir / "ticket.yaml")
    assert all(r.values.get("Партнер_Key") for page in backend.read(spec) for r in page if not r.deleted)
    edited = spec.model_copy(update={"fields": {**spec.fields, "customer_id": spec.fields["customer_id"].model_copy(
        update={"source": "Основание"})}})
    records = [r for page in backend.read(edited) for r in page]
    assert "Основание_Type" in calls[-1]["$select"].split(",")
    calls_and_letters = {d["Ref_Key"] for d in emulator.records(DOC) if d["Основание_Type"].startswith("StandardODATA.Document_")}
    assert calls_and_letters
    assert {r.values["Основание"] for r in records if r.id in calls_and_letters} == {None}
