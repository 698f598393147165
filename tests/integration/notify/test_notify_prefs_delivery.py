"""Preferences over real SMTP (aiosmtpd): a daily-digest customer gets exactly one digest
at their time, an immediate one each mail; an opt-out withdraws with the reason; the CRM's
mapped fields seed preferences without overriding what a person set."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from notify_fixtures import MSK, NOW, created, make_app, publish, status_changed
from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import ContactRow, CustomerRow, TicketRow
from notify.compose import unsubscribe_link
from notify.prefs_store import change, check_choice, contact_prefs, save, unsubscribe
from notify.sink import SmtpSink
from notify.tables import ContactPrefsRow, NotificationRow, OptOutRow

DAILY = "daily@romashka.example"
EACH = "each@lilia.example"


def contact(app: App, email: str, *, segment: str | None = None, **fields: object) -> int:
    with app.store.transaction() as s:
        customer = CustomerRow(name=f"Customer of {email}", segment=segment)
        s.add(customer)
        s.flush()
        row = ContactRow(name=email.split("@")[0], customer_id=customer.id, email=email, **fields)
        s.add(row)
        s.flush()
        return int(row.id)


def request(app: App, contact_id: int, number: str) -> int:
    with app.store.transaction() as s:
        person = s.get(ContactRow, contact_id)
        assert person is not None
        ticket = TicketRow(number=number, subject="Не проходит оплата", type="technical_problem", priority="high",
                           channel="email", source="external", status="new", customer_id=person.customer_id,
                           contact_id=contact_id, created_at=NOW - timedelta(minutes=30),
                           first_response_due=NOW + timedelta(hours=2), resolution_due=NOW + timedelta(days=1), tags=[])
        s.add(ticket)
        s.flush()
        return int(ticket.id)


def choose(app: App, contact_id: int, **choices: object) -> None:
    with app.store.transaction() as s:
        save(s, contact_id, {k: check_choice(k, v) for k, v in choices.items()}, source="cli", now=NOW)


def rows(app: App) -> list[NotificationRow]:
    with app.store.transaction() as s:
        found = list(s.scalars(select(NotificationRow).order_by(NotificationRow.id)))
        s.expunge_all()
        return found


def test_a_daily_digest_customer_gets_one_digest_at_their_time_and_an_immediate_one_each_mail(
        tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    daily, each = contact(app, DAILY), contact(app, EACH)
    choose(app, daily, frequency="daily", digest_at="09:00")
    mine = [request(app, daily, f"CRM-000010{n}") for n in range(3)]
    theirs = [request(app, each, f"CRM-000020{n}") for n in range(2)]
    publish(app, *(created(t) for t in mine + theirs))
    app.run_job("notify.dispatch", NOW)
    afternoon = NOW.replace(hour=15)
    with app.store.transaction() as s:  # one request of each resolved in the afternoon
        for tid in (mine[0], theirs[0]):
            ticket = s.get(TicketRow, tid)
            assert ticket is not None
            ticket.status = "resolved"
    publish(app, status_changed(mine[0], "new"), status_changed(theirs[0], "new"), now=afternoon)
    for moment in (afternoon + timedelta(minutes=5), NOW.replace(hour=23, minute=59)):
        app.run_job("notify.dispatch", moment)
    assert {to for _, tos in sink.envelopes for to in tos} == {EACH}
    assert len(sink.messages) == 3  # two acknowledgements and a resolution, one mail each
    waiting = [r for r in rows(app) if r.recipient == DAILY]
    assert len(waiting) == 4
    assert {r.reason for r in waiting} == {"folded into the daily digest at 09:00 MSK"}
    assert {r.next_attempt_at for r in waiting} == {datetime(2027, 1, 12, 9, 0, tzinfo=MSK)}

    result = app.run_job("notify.dispatch", datetime(2027, 1, 12, 9, 0, 20, tzinfo=MSK))
    # the resolved request's acknowledgement is moot by then: the digest tells its resolution instead
    assert (result["sent"], result["digests"], result["withdrawn"]) == (3, 1, 1)
    digest = sink.messages[-1]
    assert sink.envelopes[-1][1] == [DAILY]
    assert digest["Subject"] == "Сводка: 3 уведомления по вашим обращениям"
    text = digest.get_body(("plain",)).get_content()
    for n in range(3):
        assert f"CRM-000010{n}" in text
    assert app.run_job("notify.dispatch", datetime(2027, 1, 13, 9, 0, tzinfo=MSK))["sent"] == 0
    assert len(sink.messages) == 4


def test_an_opted_out_address_gets_a_withdrawn_row_that_says_when_and_how(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    person = contact(app, EACH)
    link = unsubscribe_link(app.config.section("notify"), EACH)
    assert link is not None
    unsubscribe(app, link.rsplit("/", 1)[1], now=datetime(2026, 12, 1, 10, tzinfo=MSK))
    publish(app, created(request(app, person, "CRM-0000300")))
    assert app.run_job("notify.dispatch")["sent"] == 0
    assert sink.messages == []
    (row,) = rows(app)
    assert (row.state, row.reason) == ("withdrawn", "opted out of email on 2026-12-01 via link")


def test_a_telegram_and_email_contact_gets_a_row_per_channel_and_mail_goes_now(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    person = contact(app, EACH)
    choose(app, person, channels="email,telegram", telegram="123456789")
    publish(app, created(request(app, person, "CRM-0000400")))
    assert {(r.channel, r.recipient) for r in rows(app)} == {("email", EACH), ("telegram", "123456789")}
    assert app.run_job("notify.dispatch")["sent"] == 1  # the telegram row waits for its sender (notify/channels)
    assert [r.state for r in rows(app) if r.channel == "telegram"] == ["pending"]


def test_crm_fields_seed_preferences_but_never_override_a_persons_choice_or_lift_an_opt_out(
        tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    person = contact(app, EACH, preferred_channel="telegram", telegram_chat_id="777", language="en",
                     notify_frequency="daily", mailing_opt_out=True)
    imported = DomainEvent("contact.imported", "contact", person, "remote:crm", {"created": True, "changed": ["name"]})
    publish(app, imported)
    with app.store.transaction() as s:
        prefs = s.get(ContactPrefsRow, person)
        assert prefs is not None
        assert (prefs.channels, prefs.telegram, prefs.language, prefs.frequency) == (["telegram"], "777", "en", "daily")
        assert set(prefs.sources.values()) == {"crm"}
        (gone,) = s.scalars(select(OptOutRow))
        assert (gone.channel, gone.address, gone.via) == ("email", EACH, "crm")
    choose(app, person, language="ru")  # the customer changed it in their cabinet
    with app.store.transaction() as s:
        row = s.get(ContactRow, person)
        assert row is not None
        row.language, row.notify_frequency, row.mailing_opt_out = "en", "hourly", False
    publish(app, DomainEvent("contact.imported", "contact", person, "remote:crm",
                             {"created": False, "changed": ["language", "notify_frequency", "mailing_opt_out"]}))
    with app.store.transaction() as s:
        prefs = s.get(ContactPrefsRow, person)
        assert prefs is not None
        assert (prefs.language, prefs.sources["language"]) == ("ru", "cli")
        assert (prefs.frequency, prefs.sources["frequency"]) == ("hourly", "crm")
        assert len(list(s.scalars(select(OptOutRow)))) == 1


def test_a_crm_value_notify_does_not_know_is_skipped_not_fatal(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    person = contact(app, EACH, language="de", notify_frequency="weekly", preferred_channel="email")
    publish(app, DomainEvent("contact.imported", "contact", person, "remote:crm", {"created": True, "changed": []}))
    with app.store.transaction() as s:
        prefs = s.get(ContactPrefsRow, person)
        assert prefs is not None
        assert (prefs.channels, prefs.language, prefs.frequency) == (["email"], None, None)


def test_the_pages_change_is_marked_web_and_its_opt_out_says_so(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    person = contact(app, EACH, phone="+79161234567")
    with app.store.transaction() as s:
        row = s.get(ContactRow, person)
        assert row is not None
        changed = change(s, app.config.section("notify"), "Europe/Moscow", row, {"channels": ["email", "sms"],
                         "language": "en"}, source="web", opt_outs=["sms"], now=NOW)
        assert changed == ["channels", "language", "opt_out:sms"]
        prefs = contact_prefs(s, app.config.section("notify"), "Europe/Moscow", row)
        assert (prefs.sources["channels"], prefs.opt_outs["sms"].via) == ("web", "web")
    publish(app, created(request(app, person, "CRM-0000500")))
    assert {(r.channel, r.state, r.reason) for r in rows(app)} == {
        ("email", "pending", None), ("sms", "withdrawn", "opted out of sms on 2027-01-11 via web")}


def test_a_retry_that_falls_into_the_contacts_own_quiet_hours_waits_for_their_end(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)  # no global quiet hours: only the contact's
    person = contact(app, EACH)
    choose(app, person, quiet="22:00-07:30")
    evening = NOW.replace(hour=21, minute=55)
    publish(app, created(request(app, person, "CRM-0000600")), now=evening)
    sink.answers.append("451 4.7.1 greylisted, try later")
    assert app.run_job("notify.dispatch", evening)["retried"] == 1
    late = NOW.replace(hour=22, minute=30)
    assert app.run_job("notify.dispatch", late)["waiting"] == 1
    (row,) = rows(app)
    assert (row.next_attempt_at, row.reason) == (datetime(2027, 1, 12, 7, 30, tzinfo=MSK), "quiet hours until 07:30 MSK")
    assert app.run_job("notify.dispatch", row.next_attempt_at)["sent"] == 1
