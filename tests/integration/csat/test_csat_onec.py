"""Against the 1C emulator with its rating attributes switched on (``csat_fields``): a
request imported from 1C, surveyed and rated, gets its score and comment written back
to ``Document_Интерес`` through the outbox by the next cycle."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from csat_fixtures import LINK_KEY
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.links import sign
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from csat.planner import rating_subject, send_now
from csat.rating import rate
from sync.tables import BindingRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)
SHIPPED = Path(__file__).resolve().parents[3] / "adapters" / "onec" / "data" / "mappings"
DOC = "Document_Интерес"
# 1C's number attribute holds 0 for "no rating", its string "" for no comment: both read as none
ONEC_CSAT = """\
  csat_score: {from: ОценкаКлиента, owner: local,
               map: {"0": null, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}}
  csat_comment: {from: КомментарийОценки, transform: [empty_to_none], owner: local}
"""


def test_a_rating_is_written_back_to_the_1c_request(tmp_path: Path):
    mappings = tmp_path / "mappings"
    shutil.copytree(SHIPPED, mappings)
    with (mappings / "ticket.yaml").open("a", encoding="utf-8") as f:  # the integrator's two lines
        f.write(ONEC_CSAT)
    with Emulator(requests=20, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  csat_fields=True) as emu:
        text = (demo_config(emu.base_url, tmp_path / "s.db") + f'    mappings: "{mappings}"\n'
                + f'links: {{secret: "{LINK_KEY}"}}\ncsat: {{enabled: false}}\n')
        bridge = App.from_text(text, clock=FrozenClock(NOW))
        try:
            bridge.upgrade_db()
            run_cycle(bridge)
            with bridge.store.transaction() as s:
                ticket_id, remote_id = s.execute(
                    select(TicketRow.id, BindingRow.remote_id).join(BindingRow, (BindingRow.local_id == TicketRow.id)
                                                                    & (BindingRow.model == "ticket"))
                    .where(TicketRow.status.in_(("resolved", "closed"))).order_by(TicketRow.id).limit(1)).one()
            sent = send_now(bridge, ticket_id, NOW)
            token = sent["url"].rsplit("/", 1)[1]
            assert token == sign(LINK_KEY, "rating", rating_subject(ticket_id, sent["survey"]), expires=sent["expires"])
            rate(bridge, LINK_KEY.encode(), token, 2, "Ответили только через день", NOW)
            cycle = run_cycle(bridge)
            assert cycle["sync.dispatch"]["demo-1c"]["sent"] >= 1
            (doc,) = [d for d in emu.records(DOC) if d["Ref_Key"] == remote_id]
            # 1C renders integer attributes as JSON text
            assert (doc["ОценкаКлиента"], doc["КомментарийОценки"]) == ("2", "Ответили только через день")
        finally:
            bridge.close()
