"""`crm-bridge kpi report | sla-report` on the sample store: the table, --json, --csv and
--xlsx (the workbook opened and its cells read), and the errors a person can make."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import kpi.cli
from crm_bridge.app import App, FrozenClock
from kpi.cli import kpi_app
from kpi.sample import NOW, seed_sample

CONFIG = """
timezone: Europe/Moscow
store: {{url: "sqlite:///{db}"}}
kpi:
  cost: {{currency: RUB, hourly: 1000, teams: {{L2: 2000}}, agents: {{"Иванова Анна": 1500}}}}
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db"), encoding="utf-8")
    bridge = App.from_file(path)
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            seed_sample(s)
    finally:
        bridge.close()

    def open_app() -> App:
        app = App.from_file(path)
        app.clock = FrozenClock(NOW)
        return app

    monkeypatch.setattr(kpi.cli, "open_app", open_app)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(kpi_app, list(args), env={"COLUMNS": "250", "TERM": "dumb", "NO_COLOR": "1"})


def test_report_by_team_prints_a_table_with_the_total(cli: Any) -> None:
    done = cli("report", "--period", "2026-11", "--by", "team")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    l1 = next(line for line in lines if "│ L1" in line)
    assert "10,500" in l1  # cost per request
    total = next(line for line in lines if "Total" in line)
    assert "80.0%" in total  # resolution SLA: 4 of 5 cycles
    assert "Opened by channel: chat 1, email 2, phone 2, web 1" in done.stdout
    anna = next(line for line in lines if "│ Иванова Анна" in line)
    assert [c.strip() for c in anna.split("│")[2:5]] == ["2", "1", "14.0"]  # resolved, open, hours worked
    assert "no survey source" not in done.stdout  # the csat addon is installed: its surveys are the source
    assert "CSAT" in done.stdout  # no survey in the sample: the column shows —


def test_report_json_carries_every_figure_with_its_counts(cli: Any) -> None:
    done = cli("report", "--period", "2026-11", "--by", "agent", "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["total"]["opened"] == 6
    assert data["total"]["sla"]["first_response"] == {"ended": 4, "met": 3, "share": 0.75}
    assert data["total"]["cost"]["per_request"] == pytest.approx(37000 / 3)
    assert data["total"]["csat"]["score"] is None
    assert {r["agent"] for r in data["rows"]} == {"Иванова Анна", "Petrov Ivan", "—"}
    assert data["period"]["start"] == "2026-11-01T00:00:00+03:00"


def test_report_csv_to_stdout_has_hours_and_fractions(cli: Any) -> None:
    done = cli("report", "--period", "2026-11", "--by", "team", "--csv", "-")
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    by_team = {r["team"]: r for r in rows}
    assert set(by_team) == {"L1", "L2", "Total"}
    assert by_team["Total"]["first response median (business) (h)"] == "0.5"
    assert by_team["L1"]["reopen rate"] == "0.5"
    assert by_team["L2"]["CSAT"] == ""


def test_report_by_two_dimensions_lines_the_total_up_under_the_first(cli: Any) -> None:
    done = cli("report", "--period", "2026-11", "--by", "team", "--by", "type", "--csv", "-")
    assert done.exit_code == 0, done.output
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0][:3] == ["team", "type", "opened"]
    assert ["L1", "technical_problem", "2"] in [r[:3] for r in rows]
    assert rows[-1][:3] == ["Total", "", "6"]
    table = cli("report", "--period", "2026-11", "--by", "team", "--by", "type")
    assert table.exit_code == 0, table.output
    assert "│ L2    │ consultation" in table.stdout
    data = json.loads(cli("report", "--period", "2026-11", "--by", "team", "--by", "type", "--json").stdout)
    assert data["rows"][0]["team"] == "L1"
    assert data["total"]["group"] == "Total"


def test_report_xlsx_holds_numbers_in_formatted_cells(cli: Any, tmp_path: Path) -> None:
    done = cli("report", "--period", "2026-11", "--by", "team", "--team", "L2", "--xlsx", "l2.xlsx")
    assert done.exit_code == 0, done.output
    book = load_workbook(tmp_path / "l2.xlsx")
    sheet = book["KPI"]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["team", "opened", "resolved"]
    l2 = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert l2["team"].value == "L2"
    assert l2["cost per request"].value == 16000
    assert l2["resolution median (business) (h)"].value == 8
    assert l2["SLA resolution"].value == 1
    assert l2["SLA resolution"].number_format == "0.0%"
    assert [c.value for c in book["Agent load"][1]] == ["agent", "resolved", "backlog", "hours worked"]


def test_sla_report_for_one_customer_as_json_and_xlsx(cli: Any, tmp_path: Path) -> None:
    done = cli("sla-report", "--period", "2026-11", "--customer", "ООО Ромашка", "--json", "--xlsx", "sla.xlsx")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    tech = next(r for r in rows if r["policy"] == "technical problem")
    assert tech["contract"] == "ДС-2026/17"
    assert tech["sla"]["resolution"] == {"ended": 4, "met": 3, "share": 0.75}
    sheet = load_workbook(tmp_path / "sla.xlsx")["SLA"]
    assert sheet["A2"].value == "ООО Ромашка"
    table = cli("sla-report", "--period", "2026-11")
    assert "АО Василёк" in table.stdout


@pytest.mark.parametrize(("args", "said"), [
    (["report", "--period", "2026-13"], "month 13 is not 1-12"),
    (["report", "--period", "2026-11", "--by", "teams"], "Did you mean 'team'?"),
    (["sla-report", "--period", "ноябрь"], "2026-Q4"),
])
def test_mistakes_say_what_to_type(cli: Any, args: list[str], said: str) -> None:
    done = cli(*args)
    assert done.exit_code == 2
    assert said in done.stderr


def test_a_misspelt_kpi_setting_names_its_line_and_the_key_meant(tmp_path: Path) -> None:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\nkpi:\n  repeat_within_day: 7\n  cost: {{hourly: -5}}\n',
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "--config", str(path), "kpi", "report", "--period", "2026-11"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2
    assert "crm-bridge.yaml:3:3: kpi.repeat_within_day: unknown key. Did you mean 'repeat_within_days'?" in done.stderr
    assert "crm-bridge.yaml:4:10: kpi.cost.hourly: must be at least 0" in done.stderr
