"""Webhook rows seen from outside: ``notify log`` (and ``--json``) never prints a webhook
URL's secrets, and a configuration without ``email:`` queues no mail rows for the default
recipients while its webhooks still hear of every event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from notify_fixtures import CHAT, NOW, SECRET, add_request, created, publish
from sqlalchemy import select
from test_notify_channels import breach
from typer.testing import CliRunner

import notify.cli
from crm_bridge.app import App, FrozenClock
from notify.channels.fakes import FakeSmsRu, FakeTelegram, WebhookReceiver
from notify.cli import notify_app
from notify.tables import NotificationRow


def test_notify_log_shows_a_webhook_without_its_token_and_no_mail_rows_without_email(
        tmp_path: Path, servers: tuple[FakeSmsRu, FakeTelegram, WebhookReceiver], monkeypatch: pytest.MonkeyPatch) -> None:
    _, tg, hook = servers
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(f"""store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
notify:
  telegram: {{token: "{tg.token}", base_url: "{tg.url}"}}
  webhooks:
    - {{url: "{hook.url}/crm?token=abc123", secret: {SECRET}}}
  staff: {{breach: ["telegram:{CHAT}"]}}
  wait_for_plan: 0s
""", encoding="utf-8")
    app = App.from_file(path)
    app.clock = FrozenClock(NOW)
    app.upgrade_db()
    tid = add_request(app)
    publish(app, created(tid), breach(tid))  # the default acknowledgement would go by mail: there is no mail
    assert app.run_job("notify.dispatch")["sent"] == 3  # telegram, and the webhook for each of the two events
    with app.store.transaction() as s:
        channels = sorted(r.channel for r in s.scalars(select(NotificationRow)))
    assert channels == ["telegram", "webhook", "webhook"]

    def open_app() -> App:
        opened = App.from_file(path)
        opened.clock = FrozenClock(NOW)
        return opened

    monkeypatch.setattr(notify.cli, "open_app", open_app)
    runner = CliRunner()
    env = {"COLUMNS": "250", "NO_COLOR": "1"}
    table = runner.invoke(notify_app, ["log"], env=env)
    as_json = runner.invoke(notify_app, ["log", "--json"], env=env)
    assert table.exit_code == 0, table.output
    assert as_json.exit_code == 0, as_json.output
    assert "abc123" not in table.output + as_json.output
    rows: list[dict[str, Any]] = json.loads(as_json.output)["notifications"]
    assert {r["recipient"] for r in rows if r["channel"] == "webhook"} == {f"{hook.url}/crm"}
    assert f"{hook.url}/crm" in table.output
