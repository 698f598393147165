"""``crm-bridge notify preview EVENT CRM-… --channel sms|telegram|webhook``: what each
channel would send, rendered as dispatch renders it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from notify_fixtures import NOW, add_request
from typer.testing import CliRunner

import notify.cli
from crm_bridge.app import App, FrozenClock
from notify.cli import notify_app

CONFIG = """store: {{url: "sqlite:///{db}"}}
notify:
  sms: {{kind: smsru, api_id: "id", max_segments: 1}}
  telegram: {{token: "123:tok"}}
  webhooks: [{{url: "https://hooks.example.ru/crm", secret: "whsec-0123456789abcdef"}}]
"""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db"), encoding="utf-8")
    bridge = App.from_file(path)
    bridge.upgrade_db()
    add_request(bridge)
    bridge.close()

    def open_app() -> App:
        app = App.from_file(path)
        app.clock = FrozenClock(NOW)
        return app

    monkeypatch.setattr(notify.cli, "open_app", open_app)
    runner = CliRunner()
    return lambda *args: runner.invoke(notify_app, ["preview", *args], env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_sms_preview_shows_the_text_and_its_segments(run: Any) -> None:
    result = run("acknowledgement", "CRM-0000042", "--channel", "sms")
    assert result.exit_code == 0, result.output
    assert "1 SMS, UCS-2" in result.output
    assert "Обращение CRM-0000042 принято. Решение до 12 янв., 10:56 (МСК)." in result.output


def test_telegram_preview_is_html_with_the_subject_in_bold_and_text_escaped(run: Any) -> None:
    result = run("sla_breach", "CRM-0000042", "--channel", "telegram", "--lang", "en", "--json")
    assert result.exit_code == 0, result.output
    text = json.loads(result.output)["text"]
    assert text.startswith("<b>[SLA] breached: CRM-0000042")
    assert "<p>" not in text


def test_webhook_preview_prints_the_json_body(run: Any) -> None:
    result = run("sla_breach", "CRM-0000042", "--channel", "webhook", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)["body"]
    assert (body["event"], body["request"]["number"], body["facts"]["metric"]) == ("sla_breach", "CRM-0000042", "resolution")


def test_crm_note_preview_is_the_note_the_requests_history_will_hold(run: Any) -> None:
    result = run("resolved", "CRM-0000042", "--channel", "crm_note", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["channel"] == "crm_note"
    subject, _, text = shown["note"].partition("\n\n")
    assert "CRM-0000042" in subject
    assert text.strip()  # the mail's plain text below its subject


def test_an_unknown_channel_is_refused_with_a_suggestion(run: Any) -> None:
    result = run("sla_breach", "CRM-0000042", "--channel", "telegarm")
    assert result.exit_code == 2
    assert "Did you mean 'telegram'?" in result.output
