"""Rate limits over real SMTP: beyond a recipient's limit the rows are folded into a digest,
and when no token is left they wait for the next one and then go as one digest — none dropped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notify_fixtures import NOW, add_request, created, make_app, publish
from sqlalchemy import select

from notify.sink import SmtpSink
from notify.tables import NotificationRow

LIMITS = "  fold_at: null\n  rate_limits: {recipient: {rate: 2, per: 1h}}\n"


def test_a_burst_over_the_limit_goes_as_one_digest_and_the_next_waits_for_a_token(tmp_path: Path, sink: SmtpSink) -> None:
    app = make_app(tmp_path, sink, LIMITS)
    publish(app, *(created(add_request(app, number=f"CRM-000000{n}")) for n in range(1, 4)))
    first = app.run_job("notify.dispatch")
    assert (first["sent"], first["digests"]) == (3, 1)  # three mails over a limit of two: one digest
    assert len(sink.messages) == 1
    later = NOW + timedelta(minutes=1)
    publish(app, created(add_request(app, number="CRM-0000004")), created(add_request(app, number="CRM-0000005")),
            now=later)
    second = app.run_job("notify.dispatch", later)
    assert (second["sent"], second["digests"]) == (2, 1)  # one token left: the two rows as one digest
    publish(app, created(add_request(app, number="CRM-0000006")), now=later)
    assert app.run_job("notify.dispatch", later)["waiting"] == 1  # no token: it waits
    with app.store.transaction() as s:
        row = s.scalars(select(NotificationRow).order_by(NotificationRow.id.desc())).first()
        assert row is not None
        assert row.reason is not None
        assert row.reason.startswith("rate limit of this recipient: folded into the next digest at")
        due = row.next_attempt_at
    assert due > later
    assert len(sink.messages) == 2
    assert app.run_job("notify.dispatch", due)["sent"] == 1
    assert len(sink.messages) == 3
    with app.store.transaction() as s:
        assert {r.state for r in s.scalars(select(NotificationRow))} == {"sent"}
