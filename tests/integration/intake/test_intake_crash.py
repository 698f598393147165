"""A kill -9 between 1C's create and the binding's commit: the restart finds the request
by its correlation key — one document in 1C, numbered, never two."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from crm_bridge.store.tables import TicketRow
from intake.tables import InboxRow
from sync.tables import BindingRow
from tests.integration.intake.conftest import Desk, mail, wait_for

CRASH = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    from crm_bridge.app import App, FrozenClock
    path = Path(sys.argv[1])
    app = App.from_text(path.read_text(encoding="utf-8"), file=str(path), clock=FrozenClock(datetime.fromisoformat(sys.argv[2])))

    def die_after_the_create(response, *args, **kwargs):
        if response.request.method == "POST" and response.status_code == 201:
            os.kill(os.getpid(), signal.SIGKILL)   # 1C created it; nothing of ours committed after

    app.backend("demo-1c").client.session.hooks["response"].append(die_after_the_create)
    app.run_job("sync.dispatch")
    print("not killed")
""")


def test_kill_9_between_create_and_bind_leaves_one_request_in_1c(desk: Desk, tmp_path: Path) -> None:
    email = "n.vorobeva@koroleva.example"
    desk.send(mail(f"Клиент <{email}>", "Не работает касса", "Касса не работает", Message_ID="<crash@c>"))
    assert desk.app.run_job("intake.process") == {"registered": 1}
    script = tmp_path / "crash.py"
    script.write_text(CRASH, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, str(script), str(desk.config_path), desk.clock.at.isoformat()],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    [doc] = desk.ours()  # 1C has it, not yet posted
    assert doc["Posted"] is False
    with desk.app.store.transaction() as s:
        ticket_id = s.scalars(select(InboxRow.ticket_id)).one()
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.local_id == ticket_id)).one()
        assert binding.state == "creating"  # the binding never heard of it
    desk.clock.at += timedelta(hours=1)  # the dead process's claim has lapsed
    desk.cycle()
    [after] = desk.ours()  # the same document, found by its key and posted
    assert (after["Ref_Key"], after["Posted"]) == (doc["Ref_Key"], True)
    with desk.app.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.local_id == ticket_id)).one()
        assert (binding.state, binding.remote_id) == ("active", doc["Ref_Key"])
        ticket = s.get(TicketRow, ticket_id)
        assert ticket is not None
        assert ticket.number == doc["Number"]


def test_an_import_that_meets_the_request_first_still_gets_it_announced_once(desk: Desk) -> None:
    desk.send(mail("Клиент <n.vorobeva@koroleva.example>", "Не работает касса", "Касса", Message_ID="<met@c>"))
    assert desk.app.run_job("intake.process") == {"registered": 1}
    desk.emulator.inject("timeout", seconds=4, method="POST", entity_set="Document_Интерес", count=1)  # 1C creates; the answer is lost
    assert desk.app.run_job("sync.dispatch")["demo-1c"]["retried"] == 1
    assert wait_for(lambda: len(desk.ours()) == 1)
    desk.clock.at += timedelta(minutes=1)
    desk.app.run_job("sync.pull")  # finds our document by its key and claims the binding, number and all
    first = desk.app.run_job("intake.confirm")
    assert (first["confirmed"], first["waiting"]) == (1, 0)
    assert first["planned"] >= 1  # the request, and what the import queued (no sla.tick ran here)
    assert desk.app.run_job("intake.confirm") == {"confirmed": 0, "waiting": 0, "planned": 0}  # announced once
    [doc] = desk.ours()
    desk.acknowledged()
    acks = [m for m in desk.sink.messages if str(m["Subject"]).startswith("Обращение") and "Не работает касса" in str(m["Subject"])]
    assert [str(m["Subject"]) for m in acks] == [f"Обращение {doc['Number']} принято: Не работает касса"]
