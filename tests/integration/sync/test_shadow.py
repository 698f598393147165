"""Shadow mode over real HTTP: the 1C emulator, the whole loop, nothing written; then the
switch to live sends each still-current decision once."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

import crm_bridge.cli.status
import sync.shadow_cli
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow
from notify.shadow import held_mail
from notify.sink import SmtpSink
from notify.tables import NotificationRow
from sync.shadow import current_writes, shadow_state
from sync.shadow_cli import shadow_app
from sync.tables import BindingRow, OutboxRow, ShadowWriteRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
BACKEND = "demo-1c"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=60, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def config_text(emulator: Emulator, db: Path, sink: SmtpSink, mode: str) -> str:
    return demo_config(emulator.base_url, db, smtp=(sink.host, sink.port)) + f"    write_back: {mode}\n"


@pytest.fixture
def shadow(emulator: Emulator, sink: SmtpSink, tmp_path: Path, clock: FrozenClock) -> Iterator[App]:
    app = App.from_text(config_text(emulator, tmp_path / "store.db", sink, "shadow"), clock=clock)
    app.upgrade_db()
    yield app
    app.close()


def live(emulator: Emulator, sink: SmtpSink, tmp_path: Path, clock: FrozenClock) -> App:
    """The same store, the configuration switched to write_back: live."""
    return App.from_text(config_text(emulator, tmp_path / "store.db", sink, "live"), clock=clock)


def wire(dt: datetime) -> str:
    return dt.astimezone(MOSCOW).replace(tzinfo=None).isoformat()


def versions(emulator: Emulator) -> dict[str, dict[str, Any]]:
    return {name: {str(r.get("Ref_Key")): r.get("DataVersion") for r in emulator.records(name)}
            for name in emulator.published_sets()}


def shadow_cycles(app: App, clock: FrozenClock, emulator: Emulator) -> None:
    """Import, SLA, routing, dispatch, notify — three times, a 1C user editing between."""
    run_cycle(app)
    doc = next(d for d in emulator.records(DOC) if not d["DeletionMark"] and d["ВидОбращения"] == "Консультация")
    emulator.update(DOC, doc["Ref_Key"], {"ВидОбращения": "СрочныйЗапрос"})  # a user's edit: replanned, in shadow
    clock.at += timedelta(minutes=5)
    run_cycle(app)
    clock.at += timedelta(hours=30)  # warnings, breaches and escalations come due
    run_cycle(app)


def test_shadow_mode_leaves_every_data_version_in_1c_unchanged(shadow: App, emulator: Emulator, clock: FrozenClock,
                                                              sink: SmtpSink) -> None:
    shadow_cycles(shadow, clock, emulator)  # warm the emulator's sets, then measure from a known point
    before = versions(emulator)
    emulator.reset_stats()
    clock.at += timedelta(hours=5)
    result = run_cycle(shadow)
    clock.at += timedelta(days=2)
    run_cycle(shadow)
    assert result["sync.dispatch"][BACKEND]["sent"] == 0
    assert versions(emulator) == before
    methods = emulator.stats()["requests"]
    assert set(methods) <= {"GET"}, methods  # reads only: no PATCH, no POST
    with shadow.store.transaction() as s:
        assert s.scalars(select(OutboxRow.state).distinct()).all() == ["pending"]  # nothing sent, nothing given up
    staff = ("lead@demo.example", "@crm-demo.example")  # the supervisor and the 1C users (agents)
    assert [m["To"] for m in sink.messages if not any(s in str(m["To"]) for s in staff)] == []  # staff mail only


def test_the_report_lists_the_writes_with_the_values_1c_holds(shadow: App, emulator: Emulator,
                                                             clock: FrozenClock) -> None:
    shadow_cycles(shadow, clock, emulator)
    docs = {d["Ref_Key"]: d for d in emulator.records(DOC)}
    with shadow.store.transaction() as s:
        writes = current_writes(s, backend=BACKEND)
        by_number = {b_number: key for key, b_number in ((b.remote_id, s.get(TicketRow, b.local_id).number)  # type: ignore[union-attr]
                     for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket")))}
        agents = {a.name for a in s.scalars(select(AgentRow))}
        state = shadow_state(s, shadow.config, BACKEND)
        tickets = {t.number: t for t in s.scalars(select(TicketRow))}
        s.expunge_all()
    due = [w for w in writes if w.field == "СрокИсполнения"]
    assert len(due) > 30
    for w in due:
        doc = docs[by_number[w.number]]
        held = doc["СрокИсполнения"]
        assert w.holds == (None if held.startswith("0001-") else datetime.fromisoformat(held).replace(tzinfo=MOSCOW).isoformat())
        ticket = tickets[w.number]
        assert ticket.resolution_due is not None
        assert datetime.fromisoformat(str(w.sends)) == ticket.resolution_due
        assert w.why.startswith(f"SLA policy {ticket.sla_policy}: resolution due")
    assigned = [w for w in writes if w.field == "Ответственный_Key"]
    assert assigned, "routing decisions are reported too"
    for w in assigned:
        assert w.why.startswith("routing rule ")
        assert w.why.endswith(f" → {w.sends_shown}")
        assert w.sends_shown in agents  # the agent's name, not a GUID
        assert w.holds == docs[by_number[w.number]]["Ответственный_Key"] or w.holds is None
    assert state is not None
    assert (state["would_write"], state["records"]) == (len(writes), len({w.number for w in writes}))


def test_a_later_decision_supersedes_the_earlier_one_in_the_report_and_history_is_kept(
        shadow: App, emulator: Emulator, clock: FrozenClock) -> None:
    run_cycle(shadow)
    with shadow.store.transaction() as s:  # an open consultation not yet due
        number = next(t.number for t in s.scalars(select(TicketRow).where(TicketRow.type == "consultation"))
                      if t.resolution_due is not None and t.resolution_due > NOW and t.status in ("new", "in_progress"))
        doc = next(d for d in emulator.records(DOC) if d["Number"] == number)
        first = [w for w in current_writes(s) if w.number == number and w.field == "СрокИсполнения"]
    emulator.update(DOC, doc["Ref_Key"], {"ВидОбращения": "СрочныйЗапрос"})
    clock.at += timedelta(minutes=5)
    run_cycle(shadow)
    with shadow.store.transaction() as s:
        now = [w for w in current_writes(s) if w.number == number and w.field == "СрокИсполнения"]
        history = s.scalars(select(ShadowWriteRow.sends).where(ShadowWriteRow.number == number,
                                                               ShadowWriteRow.field == "СрокИсполнения")).all()
    assert len(first) == 1
    assert len(now) == 1
    assert now[0].sends != first[0].sends  # 4 h urgent, not 48 h consultation
    assert (first[0].decided, now[0].decided) == (NOW, clock.at)  # when each decision was taken
    assert now[0].why.startswith("SLA policy urgent: resolution due")
    assert [h["value"] for h in history] == [first[0].sends, now[0].sends]


def test_switching_to_live_sends_each_pending_decision_once(shadow: App, emulator: Emulator, clock: FrozenClock,
                                                            sink: SmtpSink, tmp_path: Path) -> None:
    shadow_cycles(shadow, clock, emulator)
    with shadow.store.transaction() as s:
        writes = current_writes(s, backend=BACKEND)
    expected: dict[str, dict[str, Any]] = {}
    for w in writes:
        expected.setdefault(w.number, {})[w.field] = w.sends
    shadow.close()
    emulator.reset_stats()
    app = live(emulator, sink, tmp_path, clock)
    try:
        clock.at += timedelta(minutes=1)
        sent = app.run_job("sync.dispatch")[BACKEND]
        patches = emulator.stats()["by_set"].get(DOC, {}).get("PATCH", 0)
        assert patches == len(expected)  # one PATCH per request with a current decision
        assert sent["sent"] == len(expected)
        assert "POST" not in emulator.stats()["requests"]
        docs = {d["Number"]: d for d in emulator.records(DOC)}
        for number, fields in expected.items():
            for name, value in fields.items():
                held = docs[number][name]
                if isinstance(value, str) and "T" in value and value[:4].isdigit():
                    assert held == datetime.fromisoformat(value).astimezone(MOSCOW).replace(tzinfo=None).isoformat()
                else:
                    assert held == value, (number, name)
        again = run_cycle(app)
        assert again["sync.dispatch"][BACKEND]["sent"] == 0
        assert emulator.stats()["by_set"][DOC]["PATCH"] == patches  # nothing twice
        with app.store.transaction() as s:
            assert s.scalars(select(OutboxRow).where(OutboxRow.state.in_(("pending", "parked")))).all() == []
            assert current_writes(s) == []
    finally:
        app.close()


@pytest.mark.parametrize(("later", "outcome"), [(timedelta(hours=2), "withdrawn"), (timedelta(minutes=10), "sent")])
def test_customer_mail_is_held_in_shadow_and_at_the_switch_sent_only_while_fresh(
        shadow: App, emulator: Emulator, clock: FrozenClock, sink: SmtpSink, tmp_path: Path, later: timedelta,
        outcome: str) -> None:
    run_cycle(shadow)
    template = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
    with shadow.store.transaction() as s:  # one address for every customer: the mail is easy to find
        s.execute(update(CustomerRow).values(email="office@client.example"))
    new_state = next(r["Ref_Key"] for r in emulator.records("Catalog_СостоянияИнтересов") if r["Description"] == "Новое")
    doc = shadow.backend(BACKEND).client.post(DOC, {  # a 1C user registers a request
        "Date": wire(clock.at - timedelta(minutes=10)), "Партнер_Key": template["Партнер_Key"], "Тема": "Не работает вход",
        "ВидОбращения": "СрочныйЗапрос", "Состояние_Key": new_state, "Posted": True})
    clock.at += timedelta(minutes=1)
    cycle = run_cycle(shadow)
    assert cycle["notify.dispatch"]["shadow"] >= 1
    assert [m for m in sink.messages if "office@client.example" in str(m["To"])] == []
    with shadow.store.transaction() as s:
        ack = s.scalar(select(NotificationRow).join(TicketRow, TicketRow.id == NotificationRow.ticket_id).where(
            NotificationRow.event == "acknowledgement", TicketRow.number == doc["Number"]))
        assert ack is not None
        assert (ack.state, ack.data.get("shadow")) == ("pending", BACKEND)
        assert "shadow mode" in (ack.reason or "")
        ack_id = ack.id
        held = [r for r in s.scalars(select(NotificationRow).where(NotificationRow.audience == "customer"))
                if r.state == "pending" and r.data.get("shadow") == BACKEND]
        assert ack_id in [r.id for r in held]
        assert held_mail(s, BACKEND, None) == [  # the shadow report's note
            f"{len(held)} customer mail(s) held, would be sent / писем клиентам задержано: {len(held)} — see `crm-bridge notify log`"]
    shadow.close()
    clock.at += later
    app = live(emulator, sink, tmp_path, clock)
    try:
        app.run_job("notify.dispatch")
        with app.store.transaction() as s:
            row = s.get(NotificationRow, ack_id)
            assert row is not None
            assert row.state == outcome
            if outcome == "withdrawn":
                assert (row.reason or "").startswith("decided during shadow mode (demo-1c), 2 h")
    finally:
        app.close()
    mails = [m for m in sink.messages if "office@client.example" in str(m["To"]) and doc["Number"] in str(m["Subject"])]
    assert len(mails) == (1 if outcome == "sent" else 0)


@pytest.fixture
def cli(shadow: App, emulator: Emulator, clock: FrozenClock, sink: SmtpSink, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Any:
    shadow_cycles(shadow, clock, emulator)

    def open_app() -> App:
        return App.from_text(config_text(emulator, tmp_path / "store.db", sink, "shadow"), clock=clock)

    monkeypatch.setattr(sync.shadow_cli, "open_app", open_app)
    monkeypatch.setattr(crm_bridge.cli.status, "open_app", open_app)
    root = typer.Typer()  # as the crm-bridge command mounts them: `crm-bridge shadow report`, `crm-bridge status`
    root.add_typer(shadow_app, name="shadow")
    root.command("status")(crm_bridge.cli.status.status)
    runner = CliRunner()
    return lambda *args: runner.invoke(root, list(args) if args[:1] == ("status",) else ["shadow", "report", *args],
                                       env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"})


def test_report_as_csv_and_json_and_a_table_of_80_columns(cli: Any) -> None:
    as_json = cli("--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["writes"] == len(data["rows"]) > 30
    assert data["summary"].startswith(f"{data['writes']} writes would be made to {data['records']} records")
    assert data["shadow_backends"] == [BACKEND]
    (note,) = data["notes"]  # customers' addresses come from 1C's КонтактнаяИнформация: their mail is held
    assert note.endswith("— see `crm-bridge notify log`")
    assert "customer mail(s) held, would be sent" in note
    as_csv = cli("--csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == data["writes"]
    assert set(rows[0]) == {"backend", "crm_number", "field", "crm_holds", "would_send", "why", "decided"}
    assert {(r["crm_number"], r["field"], r["why"]) for r in rows} == {(r["number"], r["field"], r["why"]) for r in data["rows"]}
    table = cli("--backend", BACKEND)
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    words = {word for r in data["rows"] for word in f"{r['field']} {r['why']}".split()}
    assert words <= set(table.stdout.split()), "no word is cut"
    assert f"{data['writes']} writes would be made" in table.stdout
    later = cli("--since", "2030-01-01", "--json")
    assert json.loads(later.stdout)["writes"] == 0
    unknown = cli("--backend", "demo-ic")
    assert unknown.exit_code == 2
    assert "Did you mean 'demo-1c'?" in unknown.output


def test_status_says_the_backend_is_in_shadow_mode_and_what_it_would_write(cli: Any) -> None:
    report = json.loads(cli("--json").stdout)
    done = cli("status", "--json")
    assert done.exit_code == 0, done.output
    [backend] = json.loads(done.stdout)["backends"]
    shadow = backend["shadow"]
    assert (shadow["write_back"], shadow["would_write"], shadow["records"]) == ("shadow", report["writes"], report["records"])
    text = cli("status").stdout
    assert (f"SHADOW MODE (write_back: shadow) — nothing is written to the CRM; {report['writes']} write(s) to "
            f"{report['records']} record(s) would be made — see `crm-bridge shadow report --backend demo-1c`") in " ".join(text.replace("│", " ").split())


def test_shadow_then_live_on_postgresql(emulator: Emulator, sink: SmtpSink, tmp_path: Path, clock: FrozenClock,
                                        pg_url: str) -> None:
    """The same loop on the scale-out store: the log's queries (newest per field) on PostgreSQL."""
    def on_pg(mode: str) -> App:
        text = config_text(emulator, tmp_path / "unused.db", sink, mode)
        return App.from_text(text.replace(f"sqlite:///{tmp_path / 'unused.db'}", pg_url), clock=clock)

    app = on_pg("shadow")
    try:
        assert app.store.engine.dialect.name == "postgresql"
        app.upgrade_db()
        shadow_cycles(app, clock, emulator)
        with app.store.transaction() as s:
            writes = current_writes(s, backend=BACKEND)
        assert emulator.stats()["by_set"][DOC].get("PATCH", 0) == 0
    finally:
        app.close()
    records = {w.number for w in writes}
    assert len(records) > 30
    app = on_pg("live")
    try:
        clock.at += timedelta(minutes=1)
        assert app.run_job("sync.dispatch")[BACKEND]["sent"] == len(records)
        assert emulator.stats()["by_set"][DOC]["PATCH"] == len(records)
        assert app.run_job("sync.dispatch")[BACKEND]["sent"] == 0
        with app.store.transaction() as s:
            assert current_writes(s) == []
    finally:
        app.close()
