"""Folding over real SMTP: a burst of notifications to one address goes out as a digest,
each row still recorded on its own; a retried digest keeps its Message-ID."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notify_fixtures import NOW, add_request, created, make_app, publish
from sqlalchemy import select

from notify.sink import SmtpSink
from notify.tables import NotificationRow


def states(app: object) -> list[tuple[str, str | None]]:
    with app.store.transaction() as s:  # type: ignore[attr-defined]
        return [(r.state, r.reason) for r in s.scalars(select(NotificationRow).order_by(NotificationRow.id))]


def test_twelve_acknowledgements_to_one_contact_are_one_digest_listing_each(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    ids = [add_request(app, number=f"CRM-{n:07d}") for n in range(1, 13)]
    publish(app, *(created(t) for t in ids))
    result = app.run_job("notify.dispatch")
    assert result["sent"] == 12
    assert result["digests"] == 1
    (mail,) = sink.messages
    assert sink.envelopes[0][1] == ["m.ivanova@romashka.example"]
    assert mail["Subject"] == "Сводка: 12 уведомлений по вашим обращениям"
    text = mail.get_body(("plain",)).get_content()
    for n in range(1, 13):
        assert f"Обращение CRM-{n:07d} принято: Не проходит оплата" in text
    assert mail["List-Unsubscribe"].startswith("<https://support.example.ru/unsubscribe/")
    assert mail["Message-ID"].startswith("<digest.")
    found = states(app)
    assert {state for state, _ in found} == {"sent"}
    assert all(reason == f"in digest {mail['Message-ID']} with 11 more" for _, reason in found)
    assert app.run_job("notify.dispatch", NOW + timedelta(hours=1))["sent"] == 0  # once


def test_a_few_notifications_still_go_one_by_one(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    ids = [add_request(app, number=f"CRM-{n:07d}") for n in range(1, 4)]
    publish(app, *(created(t) for t in ids))
    assert app.run_job("notify.dispatch")["sent"] == 3
    assert [m["Subject"] for m in sink.messages] == [f"Обращение CRM-{n:07d} принято: Не проходит оплата" for n in (1, 2, 3)]


def test_folding_can_be_turned_off(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, "  fold_at: null\n")
    ids = [add_request(app, number=f"CRM-{n:07d}") for n in range(1, 8)]
    publish(app, *(created(t) for t in ids))
    assert app.run_job("notify.dispatch")["sent"] == 7
    assert len(sink.messages) == 7


def test_a_digest_retried_after_a_4xx_goes_out_again_with_the_same_message_id(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink)
    ids = [add_request(app, number=f"CRM-{n:07d}") for n in range(1, 7)]
    publish(app, *(created(t) for t in ids))
    sink.answers.append("451 4.7.1 greylisted, try later")
    first = app.run_job("notify.dispatch")
    assert first["retried"] == 6
    assert sink.messages == []
    (refused,) = sink.refused
    again = app.run_job("notify.dispatch", NOW + timedelta(hours=1))
    assert again["sent"] == 6
    (mail,) = sink.messages
    assert mail["Message-ID"] == refused["Message-ID"]
    reasons = {reason for _, reason in states(app)}
    assert reasons == {f"in digest {mail['Message-ID']} with 5 more"}
