"""`crm-bridge notify prefs set | show | list` and `notify unsubscribe` as support staff use
them: a contact named by e-mail or phone, values checked with the fix in the message, each
value's source, an opt-out by link that `show` reports and `set --opt-in` lifts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.store.tables import ContactRow, CustomerRow, TicketRow
from notify.compose import unsubscribe_link
from sync.tables import BindingRow
from tests.acceptance.embedded import logging_kept, run

CONFIG = """store: {{url: 'sqlite:///{db}'}}
timezone: Europe/Moscow
notify:
  email: {{host: 127.0.0.1, port: 2525, tls: none, from: "Support <support@example.ru>"}}
  customer:
    segments: {{international: {{language: en, timezone: Europe/London, frequency: hourly}}}}
  unsubscribe_url: "https://support.example.ru/unsubscribe/{{token}}"
  link_secret: s3cret
  departments: {{packaging: {{to: ["Упаковка <pack@example.ru>"], tags: [упаковка]}}}}
  request_url: "https://crm.example.ru/requests/{{number}}"
"""


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db"), encoding="utf-8")
    bridge = App.from_text(path.read_text(encoding="utf-8"))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            uk = CustomerRow(name="Acme Ltd", segment="international")
            ru = CustomerRow(name="ООО «Ромашка»")
            s.add_all([uk, ru])
            s.flush()
            s.add_all([ContactRow(name="Jane Smith", customer_id=uk.id, email="Jane@Acme.example", phone="+44 7700 900123"),
                       ContactRow(name="Иванова Мария", customer_id=ru.id, email="m.ivanova@romashka.example")])
    finally:
        bridge.close()
    with logging_kept():
        yield path


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    return run("-c", str(config), "notify", *args)


def test_set_then_show_json_round_trips_every_choice_with_its_source(config: Path) -> None:
    code, out, err = cli(config, "prefs", "set", "jane@acme.example", "--channel", "email", "--channel", "telegram",
                         "--chat-id", "123456789", "--frequency", "daily", "--at", "9:00", "--quiet", "22:00-08:00",
                         "--lang", "ru", "--events", "resolved,assigned", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["changed"] == ["channels", "digest_at", "events", "frequency", "language", "quiet", "telegram"]
    code, out, _ = cli(config, "prefs", "show", "+447700900123", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["contact"]["name"] == "Jane Smith"
    assert (shown["channels"], shown["frequency"], shown["digest_at"], shown["quiet"]) == \
        (["email", "telegram"], "daily", "09:00", "22:00-08:00")
    assert (shown["events"], shown["language"], shown["timezone"]) == (["assigned", "resolved"], "ru", "Europe/London")
    assert shown["addresses"] == {"email": "jane@acme.example", "sms": "+44 7700 900123", "telegram": "123456789"}
    assert shown["sources"]["frequency"] == "cli"
    assert shown["sources"]["timezone"] == "segment international"
    assert shown["opt_outs"] == []


def test_a_wrong_value_names_what_is_valid_and_changes_nothing(config: Path) -> None:
    code, _, err = cli(config, "prefs", "set", "jane@acme.example", "--frequency", "weekly")
    assert code == 2
    assert "frequency: 'weekly' is not one of immediately, hourly, daily" in err
    code, _, err = cli(config, "prefs", "set", "jane@acme.example", "--channel", "telegram")
    assert code == 2
    assert "telegram needs a chat id" in err
    _, out, _ = cli(config, "prefs", "show", "jane@acme.example", "--json")
    assert json.loads(out)["frequency"] == "hourly"  # the segment's, untouched


def test_an_unknown_contact_says_how_to_name_one(config: Path) -> None:
    code, _, err = cli(config, "prefs", "show", "nobody@example.com")
    assert code == 1
    assert "no contact 'nobody@example.com'" in err
    assert "code in the CRM" in err


def test_unsubscribe_by_token_is_shown_and_only_an_opt_in_lifts_it(config: Path) -> None:
    bridge = App.from_text(config.read_text(encoding="utf-8"))
    link = unsubscribe_link(bridge.config.section("notify"), "m.ivanova@romashka.example")
    bridge.close()
    assert link is not None
    token = link.rsplit("/", 1)[1]
    code, out, _ = cli(config, "unsubscribe", token, "--json")
    assert code == 0
    assert json.loads(out) == {"address": "m.ivanova@romashka.example", "channel": "email", "contacts": 1,
                               "already": False}
    assert json.loads(cli(config, "unsubscribe", token, "--json")[1])["already"] is True
    _, out, _ = cli(config, "prefs", "show", "m.ivanova@romashka.example", "--json")
    (gone,) = json.loads(out)["opt_outs"]
    assert (gone["channel"], gone["via"]) == ("email", "link")
    listed = json.loads(cli(config, "prefs", "list", "--json")[1])["contacts"]
    assert [c["contact"]["name"] for c in listed] == ["Иванова Мария"]
    cli(config, "prefs", "set", "m.ivanova@romashka.example", "--opt-in", "email")
    _, out, _ = cli(config, "prefs", "show", "m.ivanova@romashka.example", "--json")
    assert json.loads(out)["opt_outs"] == []


def test_a_forged_token_is_refused_with_what_to_do(config: Path) -> None:
    code, _, err = cli(config, "unsubscribe", "bS5pdmFub3ZhQHJvbWFzaGthLmV4YW1wbGU.00000000000000000000000000000000")
    assert code == 1
    assert "this unsubscribe link is not valid" in err


def test_list_by_segment_shows_the_segments_defaults(config: Path) -> None:
    code, out, _ = cli(config, "prefs", "list", "--segment", "international", "--json")
    assert code == 0
    (jane,) = json.loads(out)["contacts"]
    assert (jane["contact"]["name"], jane["frequency"], jane["language"]) == ("Jane Smith", "hourly", "en")


def test_help_has_an_example(config: Path) -> None:
    for command in (["prefs", "--help"], ["prefs", "set", "--help"], ["prefs", "show", "--help"],
                    ["prefs", "list", "--help"], ["unsubscribe", "--help"]):
        code, out, _ = cli(config, *command)
        assert code == 0
        assert "Example: crm-bridge notify" in out


def test_preview_speaks_the_language_the_contact_chose_over_their_segments(config: Path) -> None:
    bridge = App.from_text(config.read_text(encoding="utf-8"))
    try:
        with bridge.store.transaction() as s:
            jane = s.scalars(select(ContactRow).where(ContactRow.name == "Jane Smith")).one()
            s.add(TicketRow(number="CRM-0000042", subject="Card payment fails", type="technical_problem", priority="high",
                            channel="email", source="external", status="new", customer_id=jane.customer_id,
                            contact_id=jane.id, created_at=datetime(2027, 1, 11, 9, tzinfo=UTC), tags=["Упаковка"]))
    finally:
        bridge.close()
    english = json.loads(cli(config, "preview", "acknowledgement", "CRM-0000042", "--json")[1])
    assert (english["language"], english["to"]) == ("en", "jane@acme.example")  # the segment's language
    cli(config, "prefs", "set", "jane@acme.example", "--lang", "ru")
    russian = json.loads(cli(config, "preview", "acknowledgement", "CRM-0000042", "--json")[1])
    assert russian["language"] == "ru"
    assert russian["subject"].startswith("Обращение CRM-0000042")
    department = json.loads(cli(config, "preview", "department_feedback", "CRM-0000042", "--json")[1])
    assert (department["to"], department["subject"]) == ("pack@example.ru",
                                                         "Отдел «packaging»: обращение CRM-0000042: Card payment fails")
    assert "https://crm.example.ru/requests/CRM-0000042" in department["text"]


def test_a_contact_is_found_by_its_code_in_the_crm(config: Path) -> None:
    bridge = App.from_text(config.read_text(encoding="utf-8"))
    try:
        with bridge.store.transaction() as s:
            jane = s.scalars(select(ContactRow).where(ContactRow.name == "Jane Smith")).one()
            s.add(BindingRow(backend="crm", model="contact", local_id=jane.id, remote_id="000000042"))
    finally:
        bridge.close()
    code, out, _ = cli(config, "prefs", "show", "000000042", "--json")
    assert code == 0
    assert json.loads(out)["contact"]["name"] == "Jane Smith"
