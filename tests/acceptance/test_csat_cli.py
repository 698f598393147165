"""`crm-bridge csat report` and `csat send` as a supervisor uses them: figures of a month by
team, as a table and as JSON; a survey sent now for a resolved request, refused for an open one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_bridge.app import App
from crm_bridge.store.tables import ContactRow, CustomerRow, TeamRow, TicketRow
from csat.tables import SurveyRow
from tests.acceptance.embedded import logging_kept, run

CONFIG = """store: {{url: 'sqlite:///{db}'}}
timezone: Europe/Moscow
links: {{secret: "{secret}", base_url: "https://support.example.ru"}}
csat: {{enabled: false}}   # `send` and `report` work without the job
"""
NOV = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db", secret="x" * 40), encoding="utf-8")
    bridge = App.from_text(path.read_text(encoding="utf-8"))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            l1, l2, customer = TeamRow(name="L1"), TeamRow(name="L2"), CustomerRow(name="ООО «Ромашка»")
            s.add_all([l1, l2, customer])
            s.flush()
            contact = ContactRow(name="Иванова Мария", customer_id=customer.id, email="m.ivanova@romashka.example")
            s.add(contact)
            s.flush()
            # L1: four surveys, three answered (5, 4, 1); L2: two in November, one answered (3), one in December
            for i, (team, score) in enumerate([(l1, 5), (l1, 4), (l1, 1), (l1, None), (l2, 3), (l2, None), (l2, 5)]):
                ticket = TicketRow(number=f"CRM-00000{40 + i}", subject="", type="other", priority="normal",
                                   channel="email", source="external", status="resolved", customer_id=customer.id,
                                   contact_id=contact.id, team_id=team.id, created_at=NOV - timedelta(days=1),
                                   resolved_at=NOV, tags=[])
                s.add(ticket)
                s.flush()
                planned = NOV + timedelta(days=30 if i == 6 else i)
                s.add(SurveyRow(ticket_id=ticket.id, resolved_at=NOV, contact_key=f"contact:{contact.id}", state="sent",
                                planned_at=planned, expires_at=planned + timedelta(days=7), score=score, changes=0))
            s.add(TicketRow(number="CRM-0000050", subject="", type="other", priority="normal", channel="email",
                            source="external", status="in_progress", customer_id=customer.id, contact_id=contact.id,
                            created_at=NOV, tags=[]))
    finally:
        bridge.close()
    with logging_kept():
        yield path


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return run("-c", str(config), "csat", *args)


def test_the_report_of_a_month_by_team_as_json_and_as_a_table(config: Path) -> None:
    code, out, err = cli(config, "report", "--period", "2026-11", "--by", "team", "--json")
    assert (code, err) == (0, "")
    groups = {g["group"]: g for g in json.loads(out)["groups"]}
    assert (groups["L1"]["sent"], groups["L1"]["rated"], groups["L1"]["response_rate"]) == (4, 3, 0.75)
    assert groups["L1"]["score"] == pytest.approx(3.33)
    assert groups["L1"]["satisfied"] == pytest.approx(0.6667)
    assert groups["L1"]["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}
    assert (groups["L2"]["sent"], groups["L2"]["rated"], groups["L2"]["score"]) == (2, 1, 3.0)  # its December one is not in
    code, out, _ = cli(config, "report", "--period", "2026-11")
    assert code == 0
    assert "CSAT 2026-11" in out
    assert "67%" in out  # 4 of 6 answered
    code, _, err = cli(config, "report", "--period", "2026-11", "--by", "taem")
    assert code == 2
    assert "Did you mean 'team'?" in err


def test_send_gives_a_resolved_request_its_survey_now_and_refuses_an_open_one(config: Path) -> None:
    code, out, err = cli(config, "send", "CRM-0000045", "--json")
    assert (code, err) == (0, "")
    sent = json.loads(out)
    assert sent["url"].startswith("https://support.example.ru/rate/")
    assert sent["what"] == "survey sent (delay and cap skipped)"  # its November survey's window is over
    code, out, _ = cli(config, "send", "CRM-0000045", "--json")
    assert json.loads(out)["what"] == "survey already sent; the same link"
    assert json.loads(out)["url"] == sent["url"]
    code, _, err = cli(config, "send", "CRM-0000050")
    assert code == 1
    assert "is in_progress: a survey follows a resolution" in err


def test_every_csat_command_shows_an_example_in_its_help(config: Path) -> None:
    for args in (["--help"], ["report", "--help"], ["send", "--help"]):
        code, out, _ = cli(config, *args)
        assert code == 0
        assert "Example: crm-bridge csat" in out


def test_demo_keep_running_prints_a_survey_link_that_opens_the_rating_page(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    import requests
    from test_cli import free_port

    proc = subprocess.Popen([sys.executable, "-m", "crm_bridge", "demo", "--keep-running", "--requests", "40",
                             "--port", str(free_port())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        while not any("Ctrl-C stops" in line for line in seen):
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
        text = "".join(seen)
        found = re.search(r"A customer's survey \((\S+), also mailed\): (http://\S+/rate/\S+)", text)
        assert found, text
        page = requests.get(f"{found.group(2)}?score=4", timeout=10, headers={"accept-language": "en"})
        assert page.status_code == 200
        assert found.group(1) in page.text
        assert re.search(r'value="4"\s+checked', page.text)
    finally:
        proc.send_signal(2)  # SIGINT: the demo's Ctrl-C
        proc.communicate(timeout=60)
    assert proc.returncode == 0
