"""A low rating reaches routing through the event bus only (routing does not import csat):
against the 1C emulator, a request imported from 1C is surveyed and rated 1 through the csat
addon's API; routing's ``on_low_csat`` hands it to the team lead in the rating's transaction,
the routing log keeps the reason (``routing explain`` shows it), and the next cycle's sync
dispatch writes the new Ответственный into 1C. A changed low rating finds it already with
the lead; a good rating moves nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, TicketRow
from csat.planner import send_now
from csat.rating import rate
from routing.tables import RoutingLogRow
from sync.tables import BindingRow, OutboxRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)
DOC = "Document_Интерес"
LINK_KEY = "L" * 20 + "k" * 20


def _config(emu: Emulator, tmp_path: Path, lead: str) -> Path:
    text = demo_config(emu.base_url, tmp_path / "s.db")
    anchor = '  exclude: ["Интеграция (служебный)"]\n'
    assert anchor in text
    text = text.replace(
        anchor,
        anchor + f'  agents: {{"{lead}": {{team: Старшие}}}}\n'
        f'  teams: {{Старшие: {{lead: "{lead}"}}}}\n'
        "  on_low_csat: {assign_to: lead, team: Старшие}   # a low rating: the seniors' lead calls back\n",
    )
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(
        text + f'links: {{secret: "{LINK_KEY}"}}\ncsat: {{enabled: false}}\n', encoding="utf-8"
    )
    return path


def _token(bridge: App, ticket_id: int) -> str:
    return str(send_now(bridge, ticket_id, NOW)["url"]).rsplit("/", 1)[1]


def test_a_rating_of_1_hands_the_request_to_the_team_lead_in_1c(tmp_path: Path):
    with Emulator(
        requests=20, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}
    ) as emu:
        users = [
            u
            for u in emu.records("Catalog_Пользователи")
            if not u.get("Недействителен") and not u.get("Служебный")
        ]
        lead = users[0]
        config = _config(emu, tmp_path, lead["Description"])
        bridge = App.from_file(config)
        bridge.clock = FrozenClock(NOW)
        try:
            bridge.upgrade_db()
            run_cycle(bridge)
            with bridge.store.transaction() as s:
                lead_id = s.scalar(select(AgentRow.id).where(AgentRow.name == lead["Description"]))
                assert lead_id is not None
                rated, good, number, remote_id, was = None, None, "", "", None
                for ticket_id, ticket_number, remote, assignee in s.execute(
                    select(
                        TicketRow.id, TicketRow.number, BindingRow.remote_id, TicketRow.assignee_id
                    )
                    .join(
                        BindingRow,
                        (BindingRow.local_id == TicketRow.id) & (BindingRow.model == "ticket"),
                    )
                    .where(
                        TicketRow.status.in_(("resolved", "closed")),
                        TicketRow.assignee_id.is_not(None),
                        TicketRow.assignee_id != lead_id,
                    )
                    .order_by(TicketRow.id)
                ):
                    if rated is None:
                        rated, number, remote_id, was = ticket_id, ticket_number, remote, assignee
                    elif good is None:
                        good = ticket_id
                assert rated is not None
                assert good is not None
            before = emu.get(DOC, remote_id)
            assert before is not None
            assert before["Ответственный_Key"] != lead["Ref_Key"]

            token = _token(bridge, rated)
            rate(bridge, LINK_KEY.encode(), token, 1, "Так и не перезвонили", NOW)
            rate(bridge, LINK_KEY.encode(), _token(bridge, good), 5, "", NOW)

            with bridge.store.transaction() as s:
                [row] = s.scalars(
                    select(RoutingLogRow).where(RoutingLogRow.action.like("csat_followup%"))
                ).all()
                assert (row.ticket_id, row.action, row.agent_id, row.previous_id) == (
                    rated,
                    "csat_followup",
                    lead_id,
                    was,
                )
                assert row.reason.startswith(
                    "low rating 1 of 5: a follow-up for Старшие's team lead "
                    f"{lead['Description']} (was "
                )
                assert row.data["csat"]["score"] == 1
                assert "comment" not in row.data["csat"]  # the customer's words stay with csat
                pending = s.scalars(
                    select(OutboxRow).where(
                        OutboxRow.local_id == rated, OutboxRow.state == "pending"
                    )
                ).all()
                assert any(o.fields.get("assignee_id") == lead_id for o in pending)
                assert s.get(TicketRow, rated).assignee_id == lead_id  # type: ignore[union-attr]
                assert (
                    s.scalars(select(RoutingLogRow).where(RoutingLogRow.ticket_id == good)).all()
                    == []
                )

            cycle = run_cycle(bridge)
            assert cycle["sync.dispatch"]["demo-1c"]["sent"] >= 1
            after = emu.get(DOC, remote_id)
            assert after is not None
            assert (
                after["Ответственный_Key"] == lead["Ref_Key"]
            )  # 1C shows the lead as the one responsible

            # the customer changes the rating to 2: notify tells again, routing finds it with the lead already
            rate(bridge, LINK_KEY.encode(), token, 2, "Всё ещё ждём", NOW)
            with bridge.store.transaction() as s:
                actions = list(
                    s.scalars(
                        select(RoutingLogRow.action)
                        .where(
                            RoutingLogRow.ticket_id == rated,
                            RoutingLogRow.action.like("csat_followup%"),
                        )
                        .order_by(RoutingLogRow.id)
                    )
                )
                assert actions == ["csat_followup", "csat_followup_kept"]
        finally:
            bridge.close()

        explained = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "crm_bridge",
                    "-c",
                    str(config),
                    "routing",
                    "explain",
                    number,
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        followups = [h for h in explained["history"] if h["action"].startswith("csat_followup")]
        assert [h["action"] for h in followups] == ["csat_followup", "csat_followup_kept"]
        assert followups[0]["agent"] == lead["Description"]
        assert "low rating 1 of 5" in followups[0]["reason"]
        assert explained["request"]["assignee"] == lead["Description"]
