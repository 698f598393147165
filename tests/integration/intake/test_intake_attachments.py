"""A customer's files reach the request in 1C (Catalog_ИнтересПрисоединенныеФайлы by
ВладелецФайла) through the sync outbox: bind-first, so a kill -9 between 1C's create and
our commit leaves one file, not two; a file over ``max_attachment`` is listed, not sent."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.store.tables import AttachmentRow
from intake.tables import InboxRow
from sync.tables import BindingRow, OutboxRow
from tests.integration.intake.conftest import Desk, mail, open_desk

FILES = "Catalog_ИнтересПрисоединенныеФайлы"
BACKEND = """    models: [customer, contact, agent, ticket, attachment]
    create_remote: [ticket, attachment]
    post_created: [ticket]
    timeout: {connect: 2, read: 2}
"""
CRASH = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from pathlib import Path
    from urllib.parse import unquote
    from crm_bridge.app import App, FrozenClock
    path = Path(sys.argv[1])
    app = App.from_text(path.read_text(encoding="utf-8"), file=str(path), clock=FrozenClock(datetime.fromisoformat(sys.argv[2])))

    def die_after_the_file(response, *args, **kwargs):
        if response.request.method == "POST" and response.status_code == 201 and "ПрисоединенныеФайлы" in unquote(response.request.url):
            os.kill(os.getpid(), signal.SIGKILL)   # 1C stored the file; nothing of ours committed after

    app.backend("demo-1c").client.session.hooks["response"].append(die_after_the_file)
    app.run_job("sync.dispatch")
    print("not killed")
""")
PDF = bytes(range(256)) * 12  # 3,072 bytes, every byte value
BIG = b"x" * 60_000  # over the desk's max_attachment (50,000)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with open_desk(tmp_path, BACKEND) as opened:
        yield opened


def test_a_customers_file_is_stored_once_in_1c_after_a_kill_9_and_an_oversized_one_is_listed_not_sent(
    desk: Desk, tmp_path: Path
) -> None:
    msg = mail(
        "Клиент <files@client.example>",
        "Не работает касса",
        "Акт во вложении.",
        Message_ID="<f1@client.example>",
    )
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="акт сверки.pdf")
    msg.add_attachment(BIG, maintype="application", subtype="octet-stream", filename="дамп.bin")
    desk.send(msg)
    assert desk.app.run_job("intake.process") == {"registered": 1}
    script = tmp_path / "crash.py"
    script.write_text(CRASH, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.run(
        [sys.executable, str(script), str(desk.config_path), desk.clock.at.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert len(desk.emulator.records(FILES)) == 1  # 1C has it; our binding never heard of it
    with desk.app.store.transaction() as s:
        [attachment] = s.scalars(select(AttachmentRow)).all()
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "attachment")).one()
        assert binding.state == "creating"
    desk.clock.at += timedelta(hours=1)  # the dead process's claim has lapsed
    desk.cycle()
    [doc] = desk.ours()
    [stored] = desk.emulator.records(FILES)  # found by its key and bound: not created again
    assert stored["ВладелецФайла_Key"] == doc["Ref_Key"]
    assert (stored["Description"], stored["Расширение"], stored["Размер"]) == (
        "акт сверки",
        "pdf",
        str(len(PDF)),
    )
    assert base64.b64decode(stored["ФайлХранилище_Base64Data"]) == PDF
    assert str(stored["ИдентификаторВнешний"]).startswith(f"crm-bridge:attachment:{attachment.id}:")
    with desk.app.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "attachment")).one()
        assert (binding.state, binding.remote_id) == ("active", stored["Ref_Key"])
        row = s.scalars(select(InboxRow)).one()
        listed = row.decision["attachments"]
    assert listed == [
        {
            "filename": "акт сверки.pdf",
            "size": len(PDF),
            "kept": True,
            "attachment_id": attachment.id,
        },
        {"filename": "дамп.bin", "size": len(BIG), "kept": False},
    ]
    cli = [sys.executable, "-m", "crm_bridge", "-c", str(desk.config_path)]
    told = json.loads(
        subprocess.run(
            [*cli, "intake", "explain", "<f1@client.example>", "--json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env=env,
        ).stdout
    )
    [message] = told["messages"]
    assert [a["crm"] for a in message["attachments"]] == [{"demo-1c": "sent"}, {}]


def test_the_emulator_refuses_a_file_whose_content_is_not_base64_and_leaves_the_catalog_out_when_told(
    desk: Desk,
) -> None:
    from adapters.onec.emulator import Emulator
    from adapters.onec.emulator.errors import ODataError

    with pytest.raises(ODataError) as refused:
        desk.emulator.store.create(
            FILES,
            {"Description": "x", "ФайлХранилище_Base64Data": "не base64!"},
            "0" * 8 + "-0000-0000-0000-" + "0" * 12,
        )
    assert (refused.value.status, refused.value.code) == (400, "1")
    with Emulator(requests=1, seed=1, files=False, mails=False) as emu:
        assert FILES not in emu.published_sets()
        assert "Document_ЭлектронноеПисьмоИсходящее" not in emu.published_sets()


def test_a_file_waits_for_its_request_to_reach_1c_instead_of_being_sent_with_a_pending_key(
    desk: Desk,
) -> None:
    desk.emulator.inject(
        "status", status=503, method="POST", entity_set="Document_Интерес", count=1
    )
    msg = mail(
        "Клиент <wait@client.example>",
        "Не работает касса",
        "Скриншот во вложении.",
        Message_ID="<w1@client.example>",
    )
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="скриншот.pdf")
    desk.send(msg)
    desk.cycle()  # the request's create meets a 503: the file must not go without it
    assert desk.ours() == []
    assert desk.emulator.records(FILES) == []
    with desk.app.store.transaction() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.model == "attachment")).one()
        waiting = f"waits for ticket {_ticket_of(s, row.local_id)} to be created in the CRM first"
        assert (row.state, row.last_error) == ("pending", waiting)
    desk.clock.at += timedelta(hours=1)
    desk.cycle()
    [doc] = desk.ours()
    [stored] = desk.emulator.records(FILES)
    assert stored["ВладелецФайла_Key"] == doc["Ref_Key"]


def _ticket_of(session: Any, attachment_id: int) -> int:
    found = session.get(AttachmentRow, attachment_id)
    assert found is not None
    return int(found.ticket_id)
