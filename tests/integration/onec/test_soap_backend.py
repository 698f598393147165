"""The backend kind ``onec_soap`` end to end over real HTTP: a configuration naming the
emulator's CrmExchange web service, ``sync.pull`` importing its requests through the
cursor window, ``sync.dispatch`` writing due dates back through ``SetRequestDueDate``,
a second pass changing nothing, and ``crm-bridge check`` passing — or, with a wrong
password or a misnamed operation, failing with what to fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.emulator import Emulator
from adapters.onec.soap_source import SoapChangeSource
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import TicketRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2024, 3, 20, 12, 0, 0)
DOC = "Document_Интерес"
LOGIN, PASSWORD = "Администратор", "demo"
CLI = [sys.executable, "-m", "crm_bridge"]


def config(emu: Emulator, db: Path, *, password: str = PASSWORD, extra: str = "") -> str:
    return f"""
store: {{url: "sqlite:///{db}"}}
backends:
  crm-ws:
    kind: onec_soap
    wsdl: "http://127.0.0.1:{emu.port}/crm/ws/CrmExchange.1cws?wsdl"
    username: {LOGIN}
    password: "{password}"
    timezone: Europe/Moscow
    timeout: {{connect: 2, read: 5}}
    page_size: 7
{extra}"""


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(requests=23, seed=5, now=NOW) as emulator:
        yield emulator


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW.replace(tzinfo=MOSCOW))


@pytest.fixture
def bridge(emu: Emulator, tmp_path: Path, clock: FrozenClock) -> Iterator[App]:
    app = App.from_text(config(emu, tmp_path / "s.db"), clock=clock)
    app.upgrade_db()
    yield app
    app.close()


def pulled_due_dates(bridge: App) -> dict[str, datetime]:
    """One pull and the SLA tick that plans what it queued; then each request's number → its
    planned resolution due date (where it has one)."""
    bridge.run_job("sync.pull")
    bridge.run_job("sla.tick")
    with bridge.store.transaction() as s:
        return {t.number: t.resolution_due for t in s.scalars(select(TicketRow)) if t.resolution_due is not None}


def live(emu: Emulator) -> dict[str, dict[str, object]]:
    """Requests not marked for deletion, by number."""
    return {str(d["Number"]): d for d in emu.records(DOC) if not d["DeletionMark"]}


def wall(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(MOSCOW).replace(tzinfo=None).isoformat()


def test_the_kind_builds_a_cursor_source_with_the_shipped_mapping(bridge: App) -> None:
    backend = bridge.backend("crm-ws")
    assert isinstance(backend, SoapChangeSource)
    assert (backend.operation, backend.items, backend.page_size, backend.models) == (
        "GetChangedRequests", "Обращение", 7, ["ticket"])
    assert (backend.mappings_dir / "ticket.yaml").is_file()


def test_pull_imports_dispatch_writes_due_dates_through_the_setter_and_a_second_pass_changes_nothing(
    emu: Emulator, bridge: App, clock: FrozenClock
) -> None:
    pulled = bridge.run_job("sync.pull")["crm-ws"]["ticket"]
    requests = live(emu)
    assert (pulled["read"], pulled["created"], pulled["failed"]) == (23, len(requests), 0), pulled["errors"]
    with bridge.store.transaction() as s:
        tickets = {t.number: t.resolution_due for t in s.scalars(select(TicketRow))}
    assert set(tickets) == set(requests)
    assert all(value is None for value in tickets.values())  # queued for planning, not planned by the import
    assert bridge.run_job("sla.tick")["planned"] == len(requests)
    with bridge.store.transaction() as s:
        tickets = {t.number: t.resolution_due for t in s.scalars(select(TicketRow))}
    due = {number: value for number, value in tickets.items() if value is not None}
    assert due  # the SLA plan gave most of them a due date

    sent = bridge.run_job("sync.dispatch")["crm-ws"]
    assert (sent["sent"], sent["parked"]) == (len(due), 0), sent["errors"]
    assert emu.stats()["by_set"]["ws/CrmExchange"]["POST"] >= 4 + len(due)  # 4 pages of 7, one setter call each
    after = live(emu)
    for number, value in due.items():
        assert after[number]["СрокИсполнения"] == wall(value), number
    versions = {number: doc["DataVersion"] for number, doc in after.items()}

    clock.at += timedelta(minutes=5)  # the next window holds our own writes
    again = bridge.run_job("sync.pull")["crm-ws"]["ticket"]
    assert (again["created"], again["updated"], again["failed"]) == (0, 0, 0), again
    assert bridge.run_job("sla.tick")["planned"] == 0
    assert bridge.run_job("sync.dispatch")["crm-ws"]["sent"] == 0
    assert {number: doc["DataVersion"] for number, doc in live(emu).items()} == versions  # no echo write


def test_a_write_expects_the_version_it_was_decided_against_so_a_1c_users_edit_is_never_overwritten(
    emu: Emulator, bridge: App, clock: FrozenClock
) -> None:
    due = pulled_due_dates(bridge)
    number = sorted(due)[0]
    doc = live(emu)[number]
    emu.update(DOC, str(doc["Ref_Key"]), {"Тема": "Уточнено пользователем 1С"})  # after our read, before our write

    sent = bridge.run_job("sync.dispatch")["crm-ws"]
    assert (sent["sent"], sent["retried"], sent["parked"]) == (len(due) - 1, 1, 0), sent
    assert "changed in 1C meanwhile" in sent["errors"][0]
    edited = live(emu)[number]
    assert edited["Тема"] == "Уточнено пользователем 1С"
    assert edited["СрокИсполнения"] == doc["СрокИсполнения"]  # refused by 1C: not written over the newer version

    clock.at += timedelta(minutes=10)  # the next window brings the edit; the retry expects its version
    assert bridge.run_job("sync.pull")["crm-ws"]["ticket"]["updated"] == 1
    again = bridge.run_job("sync.dispatch")["crm-ws"]
    # the retry writes the due date; the merge's own row for the same value (1C still held
    # the old one at the pull) finds it written in this batch and costs no second call
    assert (again["sent"], again["unchanged"], again["parked"]) == (1, 1, 0), again
    final = live(emu)[number]
    assert (final["Тема"], final["СрокИсполнения"]) == ("Уточнено пользователем 1С", wall(due[number]))


def test_a_1c_users_edit_comes_in_through_the_next_window(emu: Emulator, bridge: App, clock: FrozenClock) -> None:
    bridge.run_job("sync.pull")
    bridge.run_job("sla.tick")
    doc = emu.records(DOC)[2]
    emu.update(DOC, doc["Ref_Key"], {"Тема": "Не печатается счёт"})
    clock.at += timedelta(minutes=5)
    pulled = bridge.run_job("sync.pull")["crm-ws"]["ticket"]
    assert (pulled["read"], pulled["updated"], pulled["created"]) == (1, 1, 0)
    with bridge.store.transaction() as s:
        assert s.scalars(select(TicketRow.subject).where(TicketRow.number == doc["Number"])).one() == "Не печатается счёт"


def test_check_finds_the_operations_names_and_mapped_fields(bridge: App) -> None:
    found = bridge.backend("crm-ws").check()
    assert all(line["ok"] for line in found), found
    assert "SetRequestDueDate" in found[0]["detail"]
    assert found[-1]["detail"].startswith("ticket: Обращение items carry")


def test_check_says_which_configured_name_the_service_lacks(emu: Emulator, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shipped = Path(__file__).parents[3] / "adapters/onec/data/mappings_soap/ticket.yaml"
    (mappings / "ticket.yaml").write_text(shipped.read_text("utf-8").replace("from: Тема", "from: Заголовок"), "utf-8")
    extra = f"    mappings: {mappings}\n    service: {{more: ЕщеЕсть}}\n    writers: {{}}\n"
    app = App.from_text(config(emu, tmp_path / "s.db", extra=extra))
    try:
        details = [line["detail"] for line in app.backend("crm-ws").check() if not line["ok"]]
    finally:
        app.close()
    assert len(details) == 2, details
    assert "no service.more 'ЕщеЕсть'" in details[0]
    assert "lack Заголовок" in details[1]
    assert "no writer for СрокИсполнения" in details[1]

    app = App.from_text(config(emu, tmp_path / "s.db", extra="    service: {operation: GetChanges}\n"))
    try:
        found = app.backend("crm-ws").check()
    finally:
        app.close()
    assert not found[-1]["ok"]
    assert "no operation GetChanges (service.operation); it offers GetChangedRequests" in found[-1]["detail"]


def cli(path: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "ONEC_PASSWORD": password}
    return subprocess.run([*CLI, "-c", str(path), *args], capture_output=True, text=True, env=env, check=False)


def test_crm_bridge_check_passes_and_a_wrong_password_names_the_backend(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(config(emu, tmp_path / "s.db", password="${ONEC_PASSWORD}"), encoding="utf-8")
    assert cli(path, "db", "upgrade", password=PASSWORD).returncode == 0

    done = cli(path, "check", "--json", password=PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout)["checks"]
    assert [c["what"] for c in checks if c["what"].startswith("backend")] == ["backend crm-ws"] * 3

    done = cli(path, "check", "--json", password="wrong")
    assert done.returncode == 1
    failed = [c for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert [c["what"] for c in failed] == ["backend crm-ws"]
    assert "1C refused the login (HTTP 401); check username/password" in failed[0]["detail"]
    assert "wrong" not in done.stdout


def test_the_wsdl_describes_the_items_for_mapping_suggest_and_check(emu: Emulator, bridge: App, tmp_path: Path) -> None:
    described = bridge.backend("crm-ws").describe()
    items = described["CrmExchange.Обращение"]
    assert (items["Тема"], items["Дата"], items["ПометкаУдаления"]) == ("Edm.String", "Edm.DateTime", "Edm.Boolean")
    assert {"ВерсияДанных", "СрокИсполнения"} <= set(items)

    path = tmp_path / "crm-bridge.yaml"
    path.write_text(config(emu, tmp_path / "s.db", password="${ONEC_PASSWORD}"), encoding="utf-8")
    made = cli(path, "mapping", "suggest", "--backend", "crm-ws", "--model", "ticket", "--out", str(tmp_path / "t.yaml"),
               password=PASSWORD)
    assert made.returncode == 0, made.stdout + made.stderr
    draft = (tmp_path / "t.yaml").read_text("utf-8")
    assert "(the web service's WSDL and 23 sample records)" in draft  # value maps from the values the service sends
    assert "entity: CrmExchange.Обращение" in draft
    lines = {line.split("#")[0].strip() for line in draft.splitlines()}
    assert {"key: Ссылка", "version: ВерсияДанных", "deleted: ПометкаУдаления", "created_at: {from: Дата}"} <= lines
    assert "subject: {from: Тема, transform: [strip]}" in lines
    assert all(f"{sent}: {status}" in draft for sent, status in (("НОВОЕ", "new"), ("В_РАБОТЕ", "in_progress"), ("ЗАКРЫТО", "closed")))

    shipped = cli(path, "mapping", "check", "--backend", "crm-ws", password=PASSWORD)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    (tmp_path / "t.yaml").write_text(draft.replace("from: Тема", "from: Заголовок"), "utf-8")
    wrong = cli(path, "mapping", "check", "--backend", "crm-ws", "--file", str(tmp_path / "t.yaml"), password=PASSWORD)
    assert wrong.returncode == 1
    problems = json.loads(cli(path, "mapping", "check", "--backend", "crm-ws", "--file", str(tmp_path / "t.yaml"), "--json",
                              password=PASSWORD).stdout)["files"][0]["problems"]
    assert [p.split(": ", 1)[1] for p in problems] == [
        "fields.subject: 23 of 23 sample records have no value, but ticket.subject is required; map a remote field "
        "that is always filled, or fix those records in the CRM",
        "fields.subject.from: CrmExchange.Обращение has no field 'Заголовок'. Close names: ВерсияДанных, Дата, "
        "ДатаЗавершения, ДатаИзменения, КонтактноеЛицо (18 in all). Run `crm-bridge mapping suggest` to list them all"]


def test_a_lock_conflict_or_a_busy_1c_on_a_setter_is_retried_and_every_due_date_lands_once(
    emu: Emulator, bridge: App, clock: FrozenClock
) -> None:
    due = pulled_due_dates(bridge)
    lock = "Ошибка при вызове метода контекста (SetRequestDueDate)\nКонфликт блокировок при выполнении транзакции"
    emu.inject("status", entity_set="ws/CrmExchange", method="POST", count=1, status=500, message=lock)
    emu.inject("status", entity_set="ws/CrmExchange", method="POST", count=1, status=503, retry_after=1)
    emu.reset_stats()
    first = bridge.run_job("sync.dispatch")["crm-ws"]
    assert (first["sent"], first["retried"], first["parked"]) == (len(due) - 2, 2, 0), first
    # the lanes write several dates at once: which refused call is told first is not fixed
    [locked] = [e for e in first["errors"] if "1C could not do it now: " in e]
    assert "Конфликт блокировок при выполнении транзакции; will retry" in locked
    assert len(first["errors"]) == 2, first["errors"]
    assert any("HTTP 503; will retry" in e for e in first["errors"]), first["errors"]
    clock.at += timedelta(minutes=10)
    assert bridge.run_job("sync.dispatch")["crm-ws"]["sent"] == 2
    clock.at += timedelta(minutes=10)
    assert bridge.run_job("sync.dispatch")["crm-ws"]["sent"] == 0
    after = live(emu)
    assert {n: after[n]["СрокИсполнения"] for n in due} == {n: wall(v) for n, v in due.items()}
    assert emu.stats()["by_set"]["ws/CrmExchange"]["POST"] == len(due) + 2  # each date written once; two refused calls
