"""Calendar data against the emulator: New Year 2027, a calendar edit re-planned and written
back into 1C, data running out flagged, warned, measured and checked."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.metrics import render
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sla import engine as sla_engine
from sla.coverage import WARN_DAYS, coverage_findings
from sla.tables import SlaCalendarRow, SlaClockRow, SlaEventRow

MSK = ZoneInfo("Europe/Moscow")
DOC = "Document_Интерес"
SLA = """
sla:
  calendars:
    office:
      timezone: Europe/Moscow
      week: {mon: &day ["09:00-13:00", "14:00-18:00"], tue: *day, wed: *day, thu: *day, fri: *day}
      include: [ru-production]%s
  policies:
    - {name: everything, calendar: office, targets: {resolution: 24h}}
"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=10, seed=5, now=datetime(2026, 12, 28, 9, 0), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def open_request(emulator: Emulator, bridge: App, opened: str) -> dict[str, object]:
    template = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
    in_work = next(s["Ref_Key"] for s in emulator.records("Catalog_СостоянияИнтересов") if s["Description"] == "В работе")
    return bridge.backend("demo-1c").client.post(DOC, {  # type: ignore[no-any-return]
        "Date": opened, "Партнер_Key": template["Партнер_Key"], "Тема": "Не проводится документ",
        "ВидОбращения": "ТехническаяПроблема", "Состояние_Key": in_work, "Posted": True})


def test_a_calendar_edit_re_plans_the_open_requests_it_touches_and_writes_the_new_due_dates(
        emulator: Emulator, tmp_path: Path) -> None:
    config = tmp_path / "crm-bridge.yaml"
    base = demo_config(emulator.base_url, tmp_path / "s.db")
    config.write_text(base + SLA % "", encoding="utf-8")
    clock = FrozenClock(datetime(2026, 12, 29, 11, 0, tzinfo=MSK))
    bridge = App.from_file(config)
    bridge.clock = clock
    try:
        bridge.upgrade_db()
        doc = open_request(emulator, bridge, "2026-12-29T10:56:00")
        run_cycle(bridge)
        # across New Year 2027 on the shipped data: 31 Dec and 1-8 Jan off
        assert emulator.get(DOC, str(doc["Ref_Key"]))["СрокИсполнения"] == "2027-01-12T10:56:00"  # type: ignore[index]
        with bridge.store.transaction() as s:
            assert {r.name for r in s.scalars(select(SlaCalendarRow))} == {"office"}
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
            assert s.get(SlaClockRow, ticket.id).notes is None  # type: ignore[union-attr]
        assert bridge.run_job("sla.tick").get("calendar_changes") is None  # nothing changed since
    finally:
        bridge.close()

    # the company closes on 11 January: an edit of the file, nothing else
    config.write_text(base + SLA % '\n      holidays: ["2027-01-11"]', encoding="utf-8")
    bridge = App.from_file(config)
    bridge.clock = clock
    try:
        tick = bridge.run_job("sla.tick")
        assert tick["calendar_changes"] == tick["planned"] >= 1  # ours and the seed's open ones due after it
        bridge.run_job("sync.dispatch")
        assert emulator.get(DOC, str(doc["Ref_Key"]))["СрокИсполнения"] == "2027-01-13T10:56:00"  # type: ignore[index]
        with bridge.store.transaction() as s:
            [replan] = s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket.id,
                                                           SlaEventRow.kind.in_(["recalculate", "replan"]))).all()
        assert replan.data["reason"] == "calendar office changed for 2027-01-11"
        assert [datetime.fromisoformat(d) for d in replan.data["moved"]["resolution_due"]] == [
            datetime(2027, 1, 12, 10, 56, tzinfo=MSK), datetime(2027, 1, 13, 10, 56, tzinfo=MSK)]
        assert bridge.run_job("sla.tick").get("calendar_changes") is None
    finally:
        bridge.close()


def test_a_time_past_the_data_is_flagged_on_the_clock_warned_once_and_measured(
        emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FrozenClock(datetime(2027, 12, 29, 11, 0, tzinfo=MSK))
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + SLA % "", clock=clock)
    try:
        bridge.upgrade_db()
        first = open_request(emulator, bridge, "2027-12-29T10:56:00")
        second = open_request(emulator, bridge, "2027-12-29T10:58:00")
        sla_engine._warned.clear()  # what other tests of this process warned of
        with caplog.at_level(logging.WARNING, logger="sla.engine"):
            run_cycle(bridge)
            clock.at += timedelta(minutes=30)
            assert sla_engine.recalc(bridge, clock())["replayed"] >= 2  # planned again, the same day
        warned = [r for r in caplog.records if getattr(r, "event", "") == "sla.calendar.beyond_data"]
        assert len(warned) == 1  # two requests, planned twice, one note, one day: one warning
        assert "computed beyond ru-production's data (ends 2027-12-31)" in warned[0].getMessage()
        clock.at += timedelta(days=1)
        with caplog.at_level(logging.WARNING, logger="sla.engine"):
            sla_engine.recalc(bridge, clock())
        assert len([r for r in caplog.records if getattr(r, "event", "") == "sla.calendar.beyond_data"]) == 2
        assert emulator.get(DOC, str(first["Ref_Key"]))["СрокИсполнения"] == "2028-01-11T10:56:00"  # type: ignore[index]
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == second["Number"])).one()
            assert s.get(SlaClockRow, ticket.id).notes == [  # type: ignore[union-attr]
                "computed beyond ru-production's data (ends 2027-12-31)"]
            kinds = [e.kind for e in s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket.id))]
        assert "beyond_data" in kinds
        metrics = render(bridge).decode()
        assert 'crm_bridge_sla_calendar_data_days_left{calendar="office",data="ru-production"} 1.0' in metrics
    finally:
        bridge.close()


def test_check_warns_sixty_days_before_the_data_ends(emulator: Emulator, tmp_path: Path) -> None:
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + SLA % "",
                           clock=FrozenClock(datetime(2027, 11, 20, 10, 0, tzinfo=MSK)))
    try:
        [line] = coverage_findings(bridge)
    finally:
        bridge.close()
    assert (line["ok"], line["warning"]) == (True, True)
    assert "ru-production's data ends 2027-12-31, in 41 day(s)" in line["detail"]
    assert "{xmlcalendar: calendars/ru-2028.xml}" in line["detail"]

    config = tmp_path / "crm-bridge.yaml"  # the command, today: said, and a warning never fails it
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db") + SLA % "", encoding="utf-8")
    cli = [sys.executable, "-m", "crm_bridge", "-c", str(config)]
    subprocess.run([*cli, "db", "upgrade"], capture_output=True, check=True)
    done = subprocess.run([*cli, "check", "--json"], capture_output=True, text=True, env={"COLUMNS": "250", "PATH": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    [today] = [c for c in json.loads(done.stdout)["checks"] if c["what"] == "sla calendars"]
    left = (date(2027, 12, 31) - datetime.now(MSK).date()).days
    assert today["warning"] is (left < WARN_DAYS)
    assert f"({left} days left)" in today["detail"] or f"in {left} day(s)" in today["detail"]
