"""`crm-bridge intake submit | review | explain | log`: a person settles who wrote, and can
always ask why a message became what it did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.store.tables import ContactRow, CustomerRow, TicketRow
from intake.tables import InboxRow
from tests.acceptance.embedded import logging_kept, run

INTAKE = """intake:
  rules:
    - {name: billing, keywords: [счёт, оплата], type: consultation}
    - {name: outage, keywords: [не работает], type: technical_problem, priority: high}
"""


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\n" + INTAKE, encoding="utf-8")
    bridge = App.from_text(path.read_text(encoding="utf-8"))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            romashka = CustomerRow(name="ООО Ромашка", tax_id="7707083893")
            lyutik = CustomerRow(name="ООО Лютик", tax_id="500100732259")
            s.add_all([romashka, lyutik])
            s.flush()
            s.add_all([ContactRow(customer_id=romashka.id, name="Иван", email="ivan@romashka.ru"),
                       ContactRow(customer_id=romashka.id, name="Бухгалтерия", email="buh@shared.example"),
                       ContactRow(customer_id=lyutik.id, name="Бухгалтерия", email="buh@shared.example")])
    finally:
        bridge.close()
    with logging_kept():
        yield path


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return run("-c", str(config), *args)


def eml(folder: Path, name: str, sender: str, subject: str, text: str) -> Path:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, "support@example.ru", subject, f"<{name}@client>"
    msg.set_content(text)
    path = folder / f"{name}.eml"
    path.write_bytes(msg.as_bytes())
    return path


def process(config: Path) -> dict[str, int]:
    bridge = App.from_text(config.read_text(encoding="utf-8"))
    try:
        return bridge.run_job("intake.process")
    finally:
        bridge.close()


def test_review_assign_then_explain_by_message_id_and_by_number(config: Path, tmp_path: Path) -> None:
    first = eml(tmp_path, "m1", "Иван <ivan@romashka.ru>", "Касса не работает", "С утра не работает касса")
    second = eml(tmp_path, "m2", "buh@shared.example", "Вопрос по оплате", "Где счёт за ноябрь?")
    code, out, _ = cli(config, "intake", "submit", str(first), str(second), str(first), "--json")
    assert code == 0
    assert [s["new"] for s in json.loads(out)["stored"]] == [True, True, False]  # the same message twice: stored once
    assert process(config) == {"registered": 1, "review": 1}

    code, out, _ = cli(config, "status", "--json")
    assert code == 1  # a customer waits for a person
    assert "crm-bridge intake review" in out
    code, out, _ = cli(config, "intake", "review", "list", "--json")
    assert code == 0
    [waiting] = json.loads(out)["review"]
    assert waiting["message_id"] == "<m2@client>"
    assert sorted(c["customer"] for c in waiting["candidates"]) == ["ООО Лютик", "ООО Ромашка"]
    assert waiting["why"] == "email found 2 customers: review"

    code, _, err = cli(config, "intake", "review", "assign", str(waiting["id"]), "ООО Лютек")
    assert code == 1
    assert "Did you mean 'ООО Лютик'?" in err
    code, out, _ = cli(config, "intake", "review", "assign", str(waiting["id"]), "500100732259", "--json")
    assert code == 0
    assert json.loads(out)["customer"] == "ООО Лютик"
    assert process(config) == {"registered": 1}
    code, out, _ = cli(config, "intake", "review", "--json")
    assert json.loads(out) == {"review": []}

    code, out, _ = cli(config, "intake", "explain", "<m2@client>", "--json")
    assert code == 0
    [m2] = json.loads(out)["messages"]
    assert (m2["state"], m2["customer"]) == ("registered", "ООО Лютик")
    assert m2["match"]["rule"].startswith("review: ")
    assert m2["classification"]["type_rule"] == "billing: keyword «счёт»"  # the rule's first keyword found

    bridge = App.from_text(config.read_text(encoding="utf-8"))
    try:
        with bridge.store.transaction() as s:  # what intake.confirm stores once the CRM numbered it
            ticket_id = s.scalars(select(InboxRow.ticket_id).where(InboxRow.message_id == "<m1@client>")).one()
            ticket = s.get(TicketRow, ticket_id)
            assert ticket is not None
            ticket.number = "CRM-0000777"
    finally:
        bridge.close()
    code, out, _ = cli(config, "intake", "explain", "CRM-0000777", "--json")
    assert code == 0
    [m1] = json.loads(out)["messages"]
    assert (m1["request"], m1["customer"], m1["match"]["rule"]) == ("CRM-0000777", "ООО Ромашка", "email")
    assert m1["classification"] == {"type": "technical_problem", "priority": "high",
                                    "type_rule": "outage: keyword «не работает»", "priority_rule": "outage: keyword «не работает»"}
    code, out, _ = cli(config, "intake", "explain", "CRM-0000777")
    assert "type: technical_problem — rule outage: keyword «не работает»" in out


def test_unknown_ids_say_so_and_exit_1(config: Path) -> None:
    code, _, err = cli(config, "intake", "review", "assign", "999", "ООО Лютик")
    assert code == 1
    assert "message 999: no such message" in err
    code, _, err = cli(config, "intake", "explain", "CRM-0000001", "--json")
    assert code == 1
    assert "no inbound message for 'CRM-0000001'" in err


def test_the_log_lists_ignored_mail_with_the_reason(config: Path, tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Auto-Submitted"] = "ivan@romashka.ru", "Автоответ", "auto-replied"
    msg.set_content("Я в отпуске")
    (tmp_path / "auto.eml").write_bytes(msg.as_bytes())
    cli(config, "intake", "submit", str(tmp_path / "auto.eml"))
    assert process(config) == {"ignored": 1}
    code, out, _ = cli(config, "intake", "log", "--state", "ignored", "--json")
    assert code == 0
    [row] = json.loads(out)["messages"]
    assert (row["state"], row["reason"], row["request"]) == ("ignored", "Auto-Submitted: auto-replied", None)


def test_serve_receives_mail_over_smtp_until_ctrl_c(config: Path, tmp_path: Path) -> None:
    import os
    import signal
    import smtplib
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.write_text(config.read_text(encoding="utf-8").replace("intake:\n", f"intake:\n  smtp: {{port: {port}}}\n"),
                      encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "crm_bridge", "-c", str(config), "intake", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert f"receiving mail: SMTP 127.0.0.1:{port}" in proc.stdout.readline()
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "ivan@romashka.ru", "support@example.ru", "Касса", "<srv@c>"
        msg.set_content("не работает")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(msg)  # 250 only after the commit
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    code, out, _ = cli(config, "intake", "log", "--json")
    assert [(m["message_id"], m["via"], m["state"]) for m in json.loads(out)["messages"]] == [("<srv@c>", "smtp", "new")]


def test_run_receives_mail_and_registers_it_in_1c_with_its_number(tmp_path: Path) -> None:
    """The whole product: `crm-bridge run` with intake's SMTP receiver, mail over SMTP, a
    posted request in the 1C emulator, numbered by 1C; Ctrl-C stops both."""
    import os
    import signal
    import smtplib
    import socket
    import subprocess
    import sys
    import time
    from datetime import UTC, datetime, timedelta

    from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
    from adapters.onec.emulator import Emulator

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)
    with Emulator(requests=5, seed=4, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        config = tmp_path / "crm-bridge.yaml"
        config.write_text(demo_config(emu.base_url, tmp_path / "s.db") + "    create_remote: [ticket]\n    post_created: [ticket]\n"
                          + f"intake:\n  smtp: {{port: {port}}}\n", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "crm_bridge", "-c", str(config), "run", "--every", "1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:  # the receiver listens before the first cycle
                try:
                    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                    break
                except OSError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "the receiver never listened"
                    time.sleep(0.2)
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "Новый клиент <new@client.example>", "support@demo.example", "Нет доступа в 1С"
            msg.set_content("Не могу войти с утра")
            with client:
                client.send_message(msg)

            def ours() -> list[dict[str, object]]:
                return [d for d in emu.records("Document_Интерес") if d.get("Тема") == "Нет доступа в 1С"]

            while not (ours() and ours()[0].get("Posted")):
                assert time.monotonic() < deadline + 30, "the mail never became a request in 1C"
                time.sleep(0.2)
            [doc] = ours()
            assert str(doc["Number"]).startswith("CRM-")
            assert doc["КаналОбращения"] == "ЭлектроннаяПочта"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
