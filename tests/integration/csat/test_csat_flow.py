"""A resolved request's survey end to end: planned in SQL, mailed through the SMTP sink,
rated through the real uvicorn server, written back through the outbox, followed up."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from csat_fixtures import NOW, make_app, rating_links, seed
from sqlalchemy import select

from crm_bridge.app import FrozenClock
from crm_bridge.store.tables import TicketRow
from csat.tables import SurveyRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow
from sync.tables import BindingRow, OutboxRow
from web.serve import WebServer


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_a_resolved_request_gets_one_survey_and_the_rating_reaches_the_outbox(tmp_path: Path, sink: SmtpSink):
    clock = FrozenClock(NOW)
    app = make_app(tmp_path, sink, clock=clock)
    try:
        ids = seed(app)
        with app.store.transaction() as s:
            s.add(BindingRow(backend="crm", model="ticket", local_id=ids["rated"], remote_id="guid-42", remote_version="v1"))
        assert app.run_job("csat.tick") == {"sent": 1, "suppressed": 1, "capped": 1, "withdrawn": 0}
        assert app.run_job("csat.tick") == {"sent": 0, "suppressed": 0, "capped": 0, "withdrawn": 0}  # decided once
        app.run_job("notify.dispatch")
        surveys = [m for m in sink.messages if "CRM-0000042" in str(m["Subject"])]
        assert len(sink.messages) == 1
        assert len(surveys) == 1
        assert surveys[0]["To"].addresses[0].addr_spec == "m.ivanova@romashka.example"
        links = rating_links(surveys[0])
        assert sorted(links) == [1, 2, 3, 4, 5]

        with WebServer(app, "127.0.0.1", 0) as web:
            browser = requests.Session()
            shown = browser.get(f"{web.url}{links[2]}?score=2", timeout=10)
            assert shown.status_code == 200
            assert re.search(r'value="2"\s+checked', shown.text)
            with app.store.transaction() as s:  # a GET changes nothing
                assert s.get(TicketRow, ids["rated"]).csat_score is None
            path = links[2]
            no_csrf = browser.post(f"{web.url}{path}", data={"score": "2"}, timeout=10)
            assert no_csrf.status_code == 403
            done = browser.post(f"{web.url}{path}", data={"score": "2", "comment": "Долго ждали", "csrf": _csrf(shown.text)},
                                timeout=10, allow_redirects=False)
            assert done.status_code == 303
            thanks = browser.get(f"{web.url}{done.headers['location']}", timeout=10, headers={"accept-language": "en"})
            assert "Thank you for your rating!" in thanks.text
            assert "2 of 5" in thanks.text

            changed = browser.post(f"{web.url}{path}", data={"score": "4", "comment": "", "csrf": _csrf(thanks.text)},
                                   timeout=10)
            assert changed.status_code == 200
            assert "4 of 5" in changed.text or "4 из 5" in changed.text

            other = path.replace(path.split("/")[-1], path.split("/")[-1][:-2] + "xx")
            assert browser.get(f"{web.url}{other}", timeout=10).status_code == 403
            clock.at = NOW + timedelta(days=8)
            assert browser.get(f"{web.url}{path}", timeout=10).status_code == 410

        with app.store.transaction() as s:
            ticket = s.get(TicketRow, ids["rated"])
            assert (ticket.csat_score, ticket.csat_comment) == (4, None)
            survey = s.scalar(select(SurveyRow).where(SurveyRow.ticket_id == ids["rated"]))
            assert (survey.score, survey.changes) == (4, 1)
            outbox = s.scalars(select(OutboxRow).where(OutboxRow.local_id == ids["rated"])).all()
            assert [o.fields for o in outbox] == [{"csat_score": 4, "csat_comment": None}]  # merged while unsent
            low = s.scalars(select(NotificationRow).where(NotificationRow.event == "csat_low")).all()
            assert [(n.recipient, n.data["score"], n.data["comment"]) for n in low] == [("lead@example.ru", 2, "Долго ждали")]
    finally:
        app.close()


def test_a_reopened_request_gets_no_second_survey_until_resolved_again(tmp_path: Path, sink: SmtpSink):
    clock = FrozenClock(NOW)
    app = make_app(tmp_path, sink, clock=clock)
    try:
        ids = seed(app)
        app.run_job("csat.tick")
        with app.store.transaction() as s:
            s.get(TicketRow, ids["rated"]).status = "in_progress"  # reopened after its survey
        clock.at = NOW + timedelta(hours=1)
        app.run_job("csat.tick")

        def surveys() -> list[str]:
            with app.store.transaction() as s:
                return list(s.scalars(select(SurveyRow.state).where(SurveyRow.ticket_id == ids["rated"]).order_by(SurveyRow.id)))

        assert surveys() == ["sent"]
        with app.store.transaction() as s:  # resolved again, 40 days on: a new resolution, the cap's period over
            ticket = s.get(TicketRow, ids["rated"])
            ticket.status, ticket.resolved_at = "resolved", NOW + timedelta(days=40)
        clock.at = NOW + timedelta(days=40, hours=3)
        assert app.run_job("csat.tick")["sent"] == 1
        assert surveys() == ["sent", "sent"]
    finally:
        app.close()


def test_a_survey_not_yet_sent_is_withdrawn_when_the_request_is_reopened(tmp_path: Path, sink: SmtpSink):
    app = make_app(tmp_path, sink)
    try:
        ids = seed(app)
        app.run_job("csat.tick")
        with app.store.transaction() as s:
            s.get(TicketRow, ids["rated"]).status = "in_progress"
        app.run_job("notify.dispatch")
        assert sink.messages == []
        with app.store.transaction() as s:
            row = s.scalar(select(NotificationRow).where(NotificationRow.event == "csat_survey"))
            assert row.state == "withdrawn"
            assert "reopened" in row.reason
        # the survey no mail carries is no survey: neither sent in the report nor counted against the cap
        assert app.run_job("csat.tick")["withdrawn"] == 1
        with app.store.transaction() as s:
            assert s.scalar(select(SurveyRow.state).where(SurveyRow.ticket_id == ids["rated"])) == "withdrawn"
    finally:
        app.close()


def test_the_kpi_source_lists_each_survey_sent_with_its_rating(tmp_path: Path, sink: SmtpSink):
    from csat.report import surveys

    app = make_app(tmp_path, sink)
    try:
        ids = seed(app)
        app.run_job("csat.tick")
        with app.store.transaction() as s:
            s.scalar(select(SurveyRow).where(SurveyRow.ticket_id == ids["rated"])).score = 4
        (source,) = app.registry.all("kpi.csat")
        assert source.obj is surveys
        with app.store.transaction() as s:
            table = surveys()
            rows = s.execute(select(table.c.ticket_id, table.c.rating)).all()
        assert [tuple(r) for r in rows] == [(ids["rated"], 4)]  # the capped and suppressed ones are no surveys
        # and the kpi addon's report reads it: the score and the response rate of the period
        from zoneinfo import ZoneInfo

        from kpi.period import parse_period
        from kpi.queries import kpi_report

        now = app.clock()
        with app.store.transaction() as s:
            report = kpi_report(s, parse_period("last-30d", ZoneInfo(app.config.timezone), now), now,
                                app.config.section("kpi"), csat=source.obj)
        assert report.csat
        assert report.total.csat_score == 4
        assert report.total.csat_response_rate == 1.0
    finally:
        app.close()


def test_three_faces_offer_three_scores_and_refuse_another(tmp_path: Path, sink: SmtpSink):
    app = make_app(tmp_path, sink, extra="  scale: faces\n  low_at: 1\n")
    try:
        seed(app)
        app.run_job("csat.tick")
        app.run_job("notify.dispatch")
        (mail,) = sink.messages
        links = rating_links(mail)
        assert sorted(links) == [1, 3, 5]
        with WebServer(app, "127.0.0.1", 0) as web:
            browser = requests.Session()
            shown = browser.get(f"{web.url}{links[3]}?score=3", timeout=10, headers={"accept-language": "en"})
            assert re.findall(r'name="score" value="(\d)"', shown.text) == ["1", "3", "5"]
            assert "Okay" in shown.text
            wrong = browser.post(f"{web.url}{links[3]}", data={"score": "2", "csrf": _csrf(shown.text)}, timeout=10)
            assert wrong.status_code == 422
            assert browser.get(f"{web.url}{links[3]}?score=abc", timeout=10).status_code == 200
            assert browser.post(f"{web.url}{links[3]}", data={"csrf": _csrf(shown.text)}, timeout=10).status_code == 422
            assert "Choose a score." in wrong.text or "Выберите оценку." in wrong.text
            done = browser.post(f"{web.url}{links[1]}", data={"score": "1", "csrf": _csrf(shown.text)}, timeout=10)
            assert done.status_code == 200
        with app.store.transaction() as s:
            low = s.scalars(select(NotificationRow.data).where(NotificationRow.event == "csat_low")).all()
            assert [(d["score"], d["scale"]) for d in low] == [(1, "faces")]
    finally:
        app.close()
