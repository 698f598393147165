"""Feedback to other departments over real SMTP: a request tagged for a department is
forwarded to it once, at once or in its daily digest, with a link to the request."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from notify_fixtures import MSK, NOW, add_request, created, make_app, publish
from sqlalchemy import select

from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import TicketRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow

DEPARTMENTS = """  request_url: "https://crm.example.ru/requests/{number}"
  departments:
    packaging: {to: ["Упаковка <pack@example.ru>"], tags: [Упаковка]}
    marketing: {to: [mkt@example.ru], tags: [marketing, product_suggestion], frequency: daily, digest_at: "10:00",
                language: en}
"""


def tag(app: object, ticket_id: int, *tags: str) -> None:
    with app.store.transaction() as s:  # type: ignore[attr-defined]
        ticket = s.get(TicketRow, ticket_id)
        assert ticket is not None
        before = list(ticket.tags)
        ticket.tags = [*before, *tags]
    publish(app, DomainEvent("ticket.imported", "ticket", ticket_id, "remote:crm",  # type: ignore[arg-type]
                             {"created": False, "changed": ["tags"], "before": {"tags": before}}))


def test_a_tagged_request_reaches_its_department_once_with_a_link(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, DEPARTMENTS)
    tid = add_request(app)
    publish(app, created(tid))
    tag(app, tid, "упаковка")
    tag(app, tid, "delivery")  # no department listens: nothing more
    app.run_job("notify.dispatch")
    to_pack = [m for m, (_, tos) in zip(sink.messages, sink.envelopes, strict=True) if tos == ["pack@example.ru"]]
    (mail,) = to_pack
    assert mail["Subject"] == "Отдел «packaging»: обращение CRM-0000042: Не проходит оплата"
    assert "Открыть в CRM: https://crm.example.ru/requests/CRM-0000042" in mail.get_body(("plain",)).get_content()
    assert "List-Unsubscribe" not in mail  # staff mail


def test_a_daily_department_gets_its_requests_in_one_digest_at_its_time(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, DEPARTMENTS)
    ids = [add_request(app, number=f"CRM-000005{n}") for n in range(3)]
    for tid in ids:
        tag(app, tid, "Marketing")
    app.run_job("notify.dispatch", NOW + timedelta(minutes=20))  # 09:50: before the digest time
    assert all(tos != ["mkt@example.ru"] for _, tos in sink.envelopes)
    with app.store.transaction() as s:
        waiting = list(s.scalars(select(NotificationRow).where(NotificationRow.recipient == "mkt@example.ru")))
        assert {r.reason for r in waiting} == {"folded into the daily digest at 10:00 MSK"}
    result = app.run_job("notify.dispatch", datetime(2027, 1, 11, 10, 0, tzinfo=MSK))
    assert (result["sent"], result["digests"]) == (3, 1)
    assert sink.envelopes[-1][1] == ["mkt@example.ru"]
    text = sink.messages[-1].get_body(("plain",)).get_content()
    for n in range(3):
        assert f"https://crm.example.ru/requests/CRM-000005{n}" in text
