"""What is not a record is not imported, against the emulator over HTTP: partner folders
(``IsFolder``) stay out unless the mapping says ``folders: include``; 1C's service user is
kept out by the shipped agent mapping's ``exclude``; neither becomes a binding, and a user
marked a service user later is handled as deleted in 1C."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from adapters.onec.adapter import DEFAULT_MAPPINGS
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow
from mapping.load import load_mapping
from sync.reconcile import reconcile_model
from sync.tables import BindingRow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=6, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def bridge(emulator: Emulator, folder: Path, mappings: Path | None = None) -> App:
    text = demo_config(emulator.base_url, folder / "s.db") + (f'    mappings: "{mappings}"\n' if mappings else "")
    app = App.from_text(text, clock=lambda: NOW)
    app.upgrade_db()
    return app


def bound(app: App, model: str) -> dict[str, str]:
    with app.store.transaction() as s:
        return {b.remote_id: b.state for b in s.scalars(select(BindingRow).where(BindingRow.model == model))}


def patch_in_1c(emulator: Emulator, entity_set: str, key: str, values: dict[str, object]) -> None:
    answer = requests.patch(f"{emulator.base_url}{quote(entity_set)}(guid'{key}')?$format=json", json=values,
                            auth=(DEMO_LOGIN.encode(), DEMO_PASSWORD.encode()), timeout=10)
    answer.raise_for_status()


def test_folders_and_the_service_user_never_become_records(emulator: Emulator, tmp_path: Path) -> None:
    service = emulator.seed.service_user
    request = emulator.records(DOC)[0]["Ref_Key"]
    patch_in_1c(emulator, DOC, request, {"Ответственный_Key": service})  # a request the integration's login took
    app = bridge(emulator, tmp_path)
    try:
        for _ in range(2):  # the first pass reads whole pages, the second scans versions
            app.run_job("sync.pull")
            customers, agents = bound(app, "customer"), bound(app, "agent")
            partners = {p["Ref_Key"] for p in emulator.records("Catalog_Партнеры") if not p["IsFolder"]}
            assert set(customers) == partners
            assert not set(emulator.seed.folders) & set(customers)
            assert set(agents) == set(emulator.seed.agents)
            assert service not in agents
        with app.store.transaction() as s:
            ticket = s.get(TicketRow, s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == request)).one())
            assert ticket is not None
            assert ticket.assignee_id is None  # the service user is no agent
    finally:
        app.close()


def test_folders_are_imported_when_the_mapping_includes_them(emulator: Emulator, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    customer = mappings / "customer.yaml"
    customer.write_text(customer.read_text(encoding="utf-8").replace("fields:", "folders: include\nfields:"), encoding="utf-8")
    app = bridge(emulator, tmp_path, mappings)
    try:
        app.run_job("sync.pull")
        assert set(emulator.seed.folders) <= set(bound(app, "customer"))
    finally:
        app.close()


def test_a_user_marked_a_service_user_later_is_handled_as_deleted(emulator: Emulator, tmp_path: Path) -> None:
    app = bridge(emulator, tmp_path)
    try:
        app.run_job("sync.pull")
        agent = emulator.seed.agents[0]
        assert bound(app, "agent")[agent] == "active"
        patch_in_1c(emulator, "Catalog_Пользователи", agent, {"Служебный": True})
        app.run_job("sync.pull")  # the version scan lists it as deleted: fetched, and tombstoned
        assert bound(app, "agent")[agent] == "tombstone"
        assert reconcile_model(app, "demo-1c", "agent", NOW).deleted == 0  # listed all along: nothing missing
        patch_in_1c(emulator, "Catalog_Пользователи", agent, {"Служебный": False})
        app.run_job("sync.pull")  # a user again: imported again
        assert bound(app, "agent")[agent] == "active"
        assert emulator.seed.service_user not in bound(app, "agent")
    finally:
        app.close()


def test_a_row_whose_values_are_not_of_their_types_never_stops_a_scan_that_excludes(
        emulator: Emulator, tmp_path: Path) -> None:
    app = bridge(emulator, tmp_path)
    try:
        backend = app.backend("demo-1c")
        spec = load_mapping(DEFAULT_MAPPINGS / "agent.yaml")
        fields = list(dict.fromkeys(name for entry in spec.exclude for name in entry))
        assert fields  # the shipped agent mapping keeps the service user out
        # a mark or an excluded field 1C sends as no boolean: not excluded, read in full and refused there
        assert backend._excluded(spec, fields, {fields[0]: "yes", "DeletionMark": "maybe"}) is False
        assert backend._excluded(spec, fields, {fields[0]: True}) is True
        assert backend._marked(spec, {"DeletionMark": "maybe"}) is False
    finally:
        app.close()
