"""Template problems are found by `crm-bridge check` with their file and line, never at send time."""

from __future__ import annotations

import shutil
from pathlib import Path

from notify_fixtures import make_app

from notify.compose import check_templates
from notify.sink import SmtpSink
from notify.templates import SHIPPED


def user_templates(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "mail"
    (folder / "ru").mkdir(parents=True)
    (folder / "ru" / name).write_text(text, encoding="utf-8")
    return folder


def test_the_shipped_templates_pass_the_check(tmp_path: Path, sink: SmtpSink) -> None:
    (line,) = check_templates(make_app(tmp_path, sink))
    assert line["ok"], line["detail"]
    assert "13 events (mail, SMS, Telegram) and the digest x 2 languages render" in line["detail"]  # csat_survey, csat_low, waiting_reminder


def test_an_unknown_placeholder_in_a_users_template_is_named_with_its_file_and_line(tmp_path: Path, sink: SmtpSink) -> None:
    folder = user_templates(tmp_path, "acknowledgement.txt", "Здравствуйте!\n\nНомер: {{ request.number }}\nСрок: {{ request.due }}\n")
    app = make_app(tmp_path, sink, f"  templates: {folder}\n")
    (line,) = check_templates(app)
    assert not line["ok"]
    assert line["detail"].startswith(f"{folder / 'ru' / 'acknowledgement.txt'}:4: unknown placeholder:")
    assert "'dict object' has no attribute 'due'" in line["detail"]


def test_a_syntax_error_is_named_with_its_file_and_line(tmp_path: Path, sink: SmtpSink) -> None:
    folder = user_templates(tmp_path, "resolved.html", "<p>\n{% if request.number %}\n<b>{{ request.number }}</b>\n")
    app = make_app(tmp_path, sink, f"  templates: {folder}\n")
    (line,) = check_templates(app)
    assert not line["ok"]
    assert line["detail"].startswith(f"{folder / 'ru' / 'resolved.html'}:3: ")
    assert "endif" in line["detail"]


def test_the_users_file_overrides_only_its_own_event(tmp_path: Path, sink: SmtpSink) -> None:
    folder = user_templates(tmp_path, "closed.subject.txt", "Закрыли {{ request.number }}\n")
    shutil.copy(SHIPPED / "ru" / "closed.txt", folder / "ru" / "closed.txt")
    app = make_app(tmp_path, sink, f"  templates: {folder}\n")
    (line,) = check_templates(app)
    assert line["ok"], line["detail"]
    assert str(folder) in line["detail"]


def test_a_broken_digest_template_is_named_by_check(tmp_path: Path, sink: SmtpSink) -> None:
    folder = user_templates(tmp_path, "digest.txt", "{% for item in items %}\n{{ item.number }}\n{% endfor %}\n")
    app = make_app(tmp_path, sink, f"  templates: {folder}\n")
    (line,) = check_templates(app)
    assert not line["ok"]
    assert line["detail"].startswith(f"{folder / 'ru' / 'digest.txt'}:2: unknown placeholder:")
    assert line["detail"].endswith("(rendering a sample digest)")


def test_an_unknown_placeholder_in_an_sms_template_is_named_by_check(tmp_path: Path, sink: SmtpSink) -> None:
    folder = user_templates(tmp_path, "sla_breach.sms.txt", "[SLA] {{ request.number }}\n{{ request.agent }}\n")
    app = make_app(tmp_path, sink, f"  templates: {folder}\n")
    (line,) = check_templates(app)
    assert not line["ok"]
    assert line["detail"].startswith(f"{folder / 'ru' / 'sla_breach.sms.txt'}:2: unknown placeholder:")


def test_a_telegram_template_of_one_event_is_checked_too(tmp_path: Path, sink: SmtpSink) -> None:
    folder = user_templates(tmp_path, "sla_warn.telegram.html", "<b>{{ subject }}</b>\n{{ request.nope }}\n")
    app = make_app(tmp_path, sink, f"  templates: {folder}\n")
    (line,) = check_templates(app)
    assert not line["ok"]
    assert line["detail"].startswith(f"{folder / 'ru' / 'sla_warn.telegram.html'}:2: unknown placeholder:")


def test_the_signed_links_are_placeholders_a_users_template_may_use_and_misspell(tmp_path: Path, sink: SmtpSink) -> None:
    good = user_templates(tmp_path, "closed.txt", "{{ cabinet_url }} {{ close_url }} {{ reopen_url }}\n")
    (line,) = check_templates(make_app(tmp_path, sink, f"  templates: {good}\n"))
    assert line["ok"], line["detail"]
    folder = user_templates(tmp_path / "typo", "resolved.txt", "Готово.\nЗакрыть: {{ close_ulr }}\n")
    (line,) = check_templates(make_app(tmp_path / "typo", sink, f"  templates: {folder}\n"))
    assert not line["ok"]
    assert line["detail"].startswith(f"{folder / 'ru' / 'resolved.txt'}:2: unknown placeholder:")
    assert "close_ulr" in line["detail"]
