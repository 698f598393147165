"""Each KPI of ``kpi.queries`` against the hand-built sample store (``kpi.sample``), on
SQLite and PostgreSQL alike: the figures in the assertions are worked out by hand in
kpi/README.md ("A worked example")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import TicketEventRow
from kpi.errors import UnknownDimension
from kpi.period import parse_period
from kpi.queries import Filters, KpiReport, kpi_report, sla_report
from kpi.sample import NOW, ZONE, expected_backlog_ages, seed_sample
from kpi.settings import KpiConfig
from kpi.summary import kpi_summary

H = 3600
COST = KpiConfig.model_validate({"cost": {"hourly": 1000, "teams": {"L2": 2000}, "agents": {"Иванова Анна": 1500}}})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bridge(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The sample, seeded once per database for the whole module (the tests only read)."""
    if request.param == "sqlite":
        yield from _seeded(f"sqlite:///{tmp_path_factory.mktemp('kpi') / 'store.db'}")
    else:
        name = f"crm_bridge_test_{uuid.uuid4().hex[:12]}"
        admin_url: str = request.getfixturevalue("pg_server")
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield from _seeded(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _seeded(url: str) -> Iterator[App]:
    app = App.from_text(f'timezone: Europe/Moscow\nstore: {{url: "{url}"}}\n')
    try:
        app.upgrade_db()
        with app.store.transaction() as s:
            seed_sample(s)
        yield app
    finally:
        app.close()


@pytest.fixture
def session(bridge: App) -> Iterator[Session]:
    """A session whose changes are rolled back."""
    s = bridge.store.sessions()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def november(session: Session, config: KpiConfig = COST, **kw: Any) -> KpiReport:
    return kpi_report(session, parse_period("2026-11", ZONE, NOW), NOW, config, **kw)


def test_volume_counts_requests_opened_in_november_moscow_time_by_channel_and_source(session: Session) -> None:
    report = november(session)
    # CRM-0000005 opened 1 Nov 01:00 Moscow (31 Oct in UTC) is November's; CRM-0000006 opened
    # 1 Dec 00:30 Moscow (30 Nov in UTC) is not; CRM-0000004 (October) is not
    assert report.total.created == 6
    assert report.volume == {"channel": {"email": 2, "phone": 2, "chat": 1, "web": 1},
                             "source": {"external": 5, "internal": 1}}


def test_first_response_median_and_p90_by_nearest_rank_from_the_newest_ledger_generation(session: Session) -> None:
    fr = november(session).total.first_response
    # 900, 1800 (generation 2, not 99999), 3600, 7200; October's 300 is left out
    assert (fr.n, fr.business_median, fr.business_p90) == (4, 1800, 7200)
    assert (fr.calendar_median, fr.calendar_p90) == (1800, 7200)


def test_resolution_time_of_a_request_reopened_twice_sums_its_three_cycles(session: Session) -> None:
    res = november(session).total.resolution
    # business: 4h, 10h (5+2+3), 8h; calendar: 26h, 12h (6+2+4), 72h
    assert (res.n, res.business_median, res.business_p90) == (3, 8 * H, 10 * H)
    assert (res.calendar_median, res.calendar_p90) == (26 * H, 72 * H)


def test_sla_compliance_per_target_counts_cycles_ended_in_the_period(session: Session) -> None:
    sla = november(session).total.sla
    assert (sla["first_response"].ended, sla["first_response"].met) == (4, 3)
    assert (sla["resolution"].ended, sla["resolution"].met) == (5, 4)
    assert sla["resolution"].share == pytest.approx(0.8)


def test_backlog_at_the_end_of_november_includes_a_request_resolved_in_december(session: Session) -> None:
    total = november(session).total
    ages = expected_backlog_ages()
    assert total.backlog == 3  # 3, 5 and 8; cancelled 7 and December's 6 are not
    assert total.backlog_age_median == pytest.approx(ages[1], abs=1)
    assert total.backlog_age_p90 == pytest.approx(ages[2], abs=1)


def test_reopen_rate_counts_a_request_reopened_twice_once(session: Session) -> None:
    total = november(session).total
    assert (total.resolved, total.reopened, total.reopens) == (3, 1, 2)
    assert total.reopen_rate == pytest.approx(1 / 3)


def test_repeat_contacts_match_type_and_normalised_subject_within_the_window(session: Session) -> None:
    total = november(session).total
    assert (total.repeat_base, total.repeats) == (6, 1)  # "RE: Не печатается счёт" 3 days after the first
    wider = november(session, KpiConfig.model_validate({"repeat_within_days": 14})).total
    assert wider.repeats == 2  # and "Как выгрузить отчёт" 11 days after October's


def test_repeat_contacts_count_the_messages_intake_marked_as_repeats(session: Session) -> None:
    """Intake attaches a repeat contact to the open request as a ``message`` event with
    ``repeat: true`` (no new request): each one dated in the period is a contact and a repeat."""
    def message(ticket: int, at: datetime, *, repeat: bool | None) -> TicketEventRow:
        data: dict[str, Any] = {"author": "customer", "rule": "same topic"}
        if repeat is not None:
            data["repeat"] = repeat
        return TicketEventRow(ticket_id=ticket, kind="message", at=at, origin="intake", data=data)

    session.add_all([
        message(3, datetime(2026, 11, 12, 9, tzinfo=ZONE), repeat=True),    # L2's open request: counts
        message(3, datetime(2026, 11, 13, 9, tzinfo=ZONE), repeat=False),   # a reply, not a repeat
        message(3, datetime(2026, 11, 14, 9, tzinfo=ZONE), repeat=None),    # a message of the CRM's
        message(8, datetime(2026, 11, 30, 23, 30, tzinfo=ZONE), repeat=True),  # L1, still November in Moscow
        message(8, datetime(2026, 12, 1, 0, 30, tzinfo=ZONE), repeat=True),  # December's (21:30 UTC on 30 Nov)
    ])
    session.flush()
    report = november(session, by=("team",))
    # before: 1 repeat of 6 requests opened with a customer (L1 1 of 4, L2 0 of 2)
    assert (report.total.repeat_base, report.total.repeats, report.total.repeat_messages) == (8, 3, 2)
    teams = {r.key[0]: (r.repeat_base, r.repeats) for r in report.rows}
    assert teams == {"L1": (5, 2), "L2": (3, 1)}
    assert report.total.repeat_rate == pytest.approx(3 / 8)
    anna = november(session, filters=Filters(agent="Иванова Анна")).total  # requests 1, 2, 8 and 8's message
    assert (anna.repeat_base, anna.repeats) == (4, 2)


def test_cost_per_request_uses_the_agents_rate_else_the_teams_else_the_default(session: Session) -> None:
    total = november(session).total
    # 4h × 1500 + 10h × 1500 (Анна's own rate) + 8h × 2000 (L2's rate for Petrov)
    assert total.worked_hours == pytest.approx(22)
    assert total.cost_total == pytest.approx(37000)
    assert total.cost_per_request == pytest.approx(37000 / 3)
    assert november(session, KpiConfig()).total.cost_total is None


def test_grouping_by_team_splits_every_figure(session: Session) -> None:
    rows = {r.key: r for r in november(session, by=("team",)).rows}
    assert set(rows) == {("L1",), ("L2",)}
    l1, l2 = rows[("L1",)], rows[("L2",)]
    assert (l1.created, l1.resolved, l1.backlog, l1.reopened) == (4, 2, 1, 1)
    assert (l2.created, l2.resolved, l2.backlog) == (2, 1, 2)
    assert l1.cost_per_request == pytest.approx(10500)
    assert l2.cost_per_request == pytest.approx(16000)
    assert l2.backlog_age_median == pytest.approx(expected_backlog_ages()[1], abs=1)


def test_agent_load_lists_open_and_resolved_requests_per_assignee(session: Session) -> None:
    load = {r.key[0]: (r.backlog, r.resolved, round(r.worked_hours)) for r in november(session).load}
    assert load == {"Иванова Анна": (1, 2, 14), "Petrov Ivan": (1, 1, 8), "—": (1, 0, 0)}


def test_filters_narrow_the_requests_counted(session: Session) -> None:
    chat = november(session, filters=Filters(channel="chat")).total
    assert (chat.created, chat.resolved, chat.backlog) == (1, 1, 1)
    nobody = november(session, filters=Filters(customer="ООО Нет такого")).total
    assert (nobody.created, nobody.resolved, nobody.first_response.n) == (0, 0, 0)


def test_an_unknown_dimension_is_refused_with_a_suggestion(session: Session) -> None:
    with pytest.raises(UnknownDimension, match="Did you mean 'team'"):
        november(session, by=("teams",))


def test_a_period_without_requests_reports_zeros_and_no_times(session: Session) -> None:
    report = kpi_report(session, parse_period("2025-01", ZONE, NOW), NOW, COST, by=("agent",))
    total = report.total
    assert report.rows == []
    assert (total.created, total.resolved, total.backlog, total.repeats) == (0, 0, 0, 0)
    assert total.first_response.business_median is None
    assert total.reopen_rate is None
    assert total.cost_per_request is None


def test_csat_reads_the_registered_survey_source(session: Session) -> None:
    surveys = Table("kpi_test_surveys", MetaData(), Column("ticket_id", Integer), Column("rating", Integer))
    surveys.create(session.connection())
    session.execute(insert(surveys), [{"ticket_id": 1, "rating": 5}, {"ticket_id": 2, "rating": None},
                                      {"ticket_id": 4, "rating": 3}])
    total = november(session, csat=lambda: select(surveys).subquery()).total
    assert (total.csat_surveys, total.csat_answered, total.csat_score) == (3, 2, pytest.approx(4.0))
    assert total.csat_response_rate == pytest.approx(2 / 3)
    assert november(session).total.csat_score is None  # no source: "—"


def test_sla_report_gives_each_customer_compliance_per_contract_and_policy(session: Session) -> None:
    rows = {r.key: r for r in sla_report(session, parse_period("2026-11", ZONE, NOW), NOW, KpiConfig())}
    tech = rows[("ООО Ромашка", "ДС-2026/17", "technical problem")]
    assert tech.created == 2
    assert (tech.sla["first_response"].ended, tech.sla["first_response"].met) == (2, 1)
    assert (tech.sla["resolution"].ended, tech.sla["resolution"].met) == (4, 3)
    assert rows[("АО Василёк", "—", "everything else")].sla["resolution"].met == 1
    only = sla_report(session, parse_period("2026-11", ZONE, NOW), NOW, KpiConfig(), customer="АО Василёк")
    assert {r.key[0] for r in only} == {"АО Василёк"}


def test_the_demo_summary_reads_the_last_30_days(bridge: App) -> None:
    clock = bridge.clock
    bridge.clock = FrozenClock(NOW)
    try:
        lines = kpi_summary(bridge)
    finally:
        bridge.clock = clock
    # 7 Nov 12:00 – 7 Dec 12:00: opened 3, 6, 7, 8; resolved 8; open now 3, 5, 6
    assert lines[0].startswith("KPIs, last 30 days: 4 requests opened, 1 resolved, 3 open")
    assert "crm-bridge kpi report --period last-30d" in lines[-1]


def test_the_dashboards_lean_query_gives_the_reports_sla_compliance_and_agent_backlog(session: Session) -> None:
    from kpi.queries import compliance_and_load

    report = november(session)
    total, load = compliance_and_load(session, parse_period("2026-11", ZONE, NOW), NOW, COST)
    assert total.sla == report.total.sla
    assert total.sla  # the sample has cycles ended in November: the comparison is not of two empties
    assert {row.key: row.backlog for row in load} == {row.key: row.backlog for row in report.load}
    assert any(row.backlog for row in load)
