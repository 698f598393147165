"""The planner's one statement on SQLite and PostgreSQL: the same decisions as
``decide`` request by request — suppression, the cap across earlier surveys and within
one run, the delay and the window — and a second run decides nothing again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import ContactRow, CustomerRow, TicketRow
from csat.planner import plan_surveys
from csat.settings import CsatConfig
from csat.tables import SurveyRow

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)


def test_the_planner_decides_alike_on_both_stores(store_url: str):
    app = App.from_text(f'store: {{url: "{store_url}"}}\nlinks: {{secret: "{"k" * 40}"}}\n'
                        "csat: {enabled: false, delay: 2h, window: 7d, max_per_contact: 2 per 30d}\n", clock=FrozenClock(NOW))
    try:
        app.upgrade_db()
        config: CsatConfig = app.config.section("csat")
        with app.store.transaction() as s:
            customer = CustomerRow(name="ООО «Ромашка»")
            s.add(customer)
            s.flush()
            a, b = ContactRow(name="A", customer_id=customer.id), ContactRow(name="B", customer_id=customer.id)
            s.add_all([a, b])
            s.flush()
            earlier = TicketRow(number="CRM-0000001", type="other", priority="normal", channel="email", source="external",
                                status="closed", contact_id=a.id, customer_id=customer.id, created_at=NOW - timedelta(days=20),
                                resolved_at=NOW - timedelta(days=10), tags=[])
            s.add(earlier)
            s.flush()
            s.add(SurveyRow(ticket_id=earlier.id, resolved_at=earlier.resolved_at, contact_key=f"contact:{a.id}",
                            state="sent", planned_at=NOW - timedelta(days=10), changes=0))

            def ticket(n: int, contact: ContactRow | None, hours: float, *, source: str = "external",
                       status: str = "resolved") -> None:
                s.add(TicketRow(number=f"CRM-00000{n}", type="other", priority="normal", channel="email", source=source,
                                status=status, contact_id=contact.id if contact else None,
                                customer_id=None if contact is None else customer.id, created_at=NOW - timedelta(days=1),
                                resolved_at=NOW - timedelta(hours=hours), tags=[]))

            ticket(10, a, 5)    # A's second survey in 30 days: sent
            ticket(11, a, 4)    # A's third: capped
            ticket(12, b, 3)    # B: sent
            ticket(13, b, 3, source="internal")  # suppressed, and not counted against B
            ticket(14, b, 2.5)  # B's second: sent
            ticket(15, None, 3)  # nobody to ask: suppressed
            ticket(16, b, 1)    # not due yet
            ticket(17, b, 24 * 8)  # past the window
            ticket(18, b, 3, status="in_progress")  # reopened
        with app.store.transaction() as s:
            plan_surveys(s, config, NOW)
        with app.store.transaction() as s:
            decided = {n: (st, r) for n, st, r in s.execute(
                select(TicketRow.number, SurveyRow.state, SurveyRow.reason).join(SurveyRow, SurveyRow.ticket_id == TicketRow.id)
                .where(TicketRow.number != "CRM-0000001"))}
        assert {n: st for n, (st, _) in decided.items()} == {
            "CRM-0000010": "sent", "CRM-0000011": "capped", "CRM-0000012": "sent", "CRM-0000013": "suppressed",
            "CRM-0000014": "sent", "CRM-0000015": "suppressed"}
        assert decided["CRM-0000013"][1] == "internal request"
        with app.store.transaction() as s:
            assert plan_surveys(s, config, NOW) == []
    finally:
        app.close()


def test_the_month_report_by_agent_counts_alike_on_both_stores(store_url: str):
    from crm_bridge.store.tables import AgentRow
    from csat.report import csat_summary, period_bounds

    app = App.from_text(f'store: {{url: "{store_url}"}}\n', clock=FrozenClock(NOW))
    try:
        app.upgrade_db()
        with app.store.transaction() as s:
            petrov, sidorova = AgentRow(name="Петров Пётр"), AgentRow(name="Сидорова Анна")
            s.add_all([petrov, sidorova])
            s.flush()
            for i, (agent, score, state) in enumerate([(petrov, 5, "sent"), (petrov, 2, "sent"), (petrov, None, "sent"),
                                                       (sidorova, 4, "sent"), (sidorova, None, "capped")]):
                t = TicketRow(number=f"CRM-000010{i}", type="other", priority="normal", channel="email",
                              source="external", status="resolved", assignee_id=agent.id,
                              created_at=NOW - timedelta(days=2), resolved_at=NOW - timedelta(days=1), tags=[])
                s.add(t)
                s.flush()
                s.add(SurveyRow(ticket_id=t.id, resolved_at=t.resolved_at, contact_key="contact:1", state=state,
                                planned_at=NOW, score=score, changes=0))
        start, end = period_bounds("2027-01", "Europe/Moscow")
        with app.store.transaction() as s:
            rows = {r["group"]: r for r in csat_summary(s, start, end, by="agent")}
        assert (rows["Петров Пётр"]["sent"], rows["Петров Пётр"]["rated"], rows["Петров Пётр"]["score"]) == (3, 2, 3.5)
        assert rows["Петров Пётр"]["distribution"] == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}
        assert (rows["Сидорова Анна"]["sent"], rows["Сидорова Анна"]["satisfied"]) == (1, 1.0)  # the capped one is no survey
    finally:
        app.close()
