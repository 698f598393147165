"""Which resolved requests get a survey now, decided in SQL over the whole store.

``csat_tick`` (the job ``csat.tick``, in the run cycle after routing) looks at every
request resolved (or closed) at least ``delay`` and at most ``window`` ago whose
resolution has no survey row yet, and writes one row per resolution in one
``INSERT … SELECT``:

* ``suppressed`` — an internal request (``source: internal``), or nobody to ask (no
  contact and no customer);
* ``capped`` — the contact (else the customer) already had ``max_per_contact.count``
  surveys in ``max_per_contact.period`` (earlier ones, and earlier resolutions of this run
  first);
* ``sent`` — the rest: each is published as ``csat.survey`` with its signed rating link
  (purpose ``rating``, subject ``request:<id>.<survey>``, expiring with the window), and
  notify writes the customer's rows through their preferences.

A request reopened after its survey gets no second one until it is resolved again (a new
``resolved_at``); the unique (request, resolution) key makes a repeated run decide once.
``decide`` is the same rule for one request in Python: the tests and the benchmark's
per-request loop hold the SQL to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.links import PAGES, require_secret, sign
from crm_bridge.store.tables import TicketRow, core_table
from crm_bridge.store.types import UTCDateTime
from csat.settings import CsatConfig
from csat.tables import SurveyRow
from notify.tables import NotificationRow

__all__ = ["Candidate", "csat_tick", "decide", "demo_line", "plan_surveys", "publish_surveys", "rating_subject", "send_now",
           "settle_unsent", "survey_url"]

log = logging.getLogger(__name__)
_DONE = ("resolved", "closed")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resolution as ``decide`` sees it."""

    ticket_id: int
    status: str
    source: str
    resolved_at: datetime | None
    contact_key: str | None


def decide(c: Candidate, config: CsatConfig, now: datetime, sent_before: int) -> tuple[str, str | None] | None:
    """(state, reason) of the survey of `c` at `now`, or None when it is not due (yet, or any
    more). `sent_before`: surveys the contact had in the cap's period. Pure."""
    if c.status not in _DONE or c.resolved_at is None:
        return None
    if not now - config.window < c.resolved_at <= now - config.delay:
        return None
    if c.source == "internal":
        return "suppressed", "internal request"
    if c.contact_key is None:
        return "suppressed", "no contact or customer to ask"
    if sent_before >= config.max_per_contact.count:
        return "capped", _capped(config)
    return "sent", None


def _capped(config: CsatConfig) -> str:
    cap = config.max_per_contact
    return f"the contact had {cap.count} survey(s) in the last {cap.period.days}d (csat.max_per_contact)"


def rating_subject(ticket_id: int, survey_id: int) -> str:
    """The subject a rating link is signed for: the request and its survey."""
    return f"request:{ticket_id}.{survey_id}"


def plan_surveys(session: Session, config: CsatConfig, now: datetime) -> list[tuple[int, int, str]]:
    """Write the survey rows due at `now` in one statement; the (survey id, request id,
    state) of each row written."""
    t, s = core_table(TicketRow), core_table(SurveyRow)
    resolution = func.coalesce(t.c.resolved_at, t.c.closed_at, type_=UTCDateTime())
    key = case((t.c.contact_id.is_not(None), literal("contact:") + cast(t.c.contact_id, String)),
               (t.c.customer_id.is_not(None), literal("customer:") + cast(t.c.customer_id, String)), else_=None)
    done = exists().where(s.c.ticket_id == t.c.id, s.c.resolved_at == resolution)
    cand = (select(t.c.id.label("ticket_id"), resolution.label("resolved_at"), key.label("contact_key"),
                   (t.c.source == "internal").label("internal"))
            .where(t.c.deleted.is_(False), t.c.status.in_(_DONE), resolution.is_not(None),
                   resolution <= now - config.delay, resolution > now - config.window, ~done)
            .cte("cand"))
    earlier = (select(func.count()).select_from(s)
               .where(s.c.contact_key == cand.c.contact_key, s.c.state == "sent",
                      s.c.planned_at > now - config.max_per_contact.period).scalar_subquery())
    eligible = and_(cand.c.internal.is_(False), cand.c.contact_key.is_not(None))
    rank = func.row_number().over(partition_by=[cand.c.contact_key, eligible],
                                  order_by=[cand.c.resolved_at, cand.c.ticket_id])
    ranked = select(cand, (earlier + rank).label("nth"), eligible.label("eligible")).subquery("ranked")
    state = case((ranked.c.internal.is_(True), "suppressed"), (ranked.c.contact_key.is_(None), "suppressed"),
                 (ranked.c.nth > config.max_per_contact.count, "capped"), else_="sent")
    reason = case((ranked.c.internal.is_(True), "internal request"),
                  (ranked.c.contact_key.is_(None), "no contact or customer to ask"),
                  (ranked.c.nth > config.max_per_contact.count, _capped(config)), else_=None)
    at = literal(now, UTCDateTime())
    expires = case((state == "sent", literal(now + config.window, UTCDateTime())), else_=None)
    before = session.scalar(select(func.max(s.c.id))) or 0
    session.execute(insert(s).from_select(
        ["ticket_id", "resolved_at", "contact_key", "state", "reason", "planned_at", "expires_at", "changes"],
        select(ranked.c.ticket_id, ranked.c.resolved_at, ranked.c.contact_key, state, reason, at, expires, literal(0))))
    return [(i, tid, st) for i, tid, st in session.execute(
        select(s.c.id, s.c.ticket_id, s.c.state).where(s.c.id > before).order_by(s.c.id))]


def settle_unsent(session: Session) -> int:
    """Surveys no message carries any more — every notify row of theirs withdrawn (the request
    reopened before the mail went, the contact opted out) or none written (no channel chose
    surveys) — become ``withdrawn``: not counted as sent, nor against the contact's cap.
    Run before planning, so rows written in the planning transaction are seen. Returns how many."""
    s, n = core_table(SurveyRow), core_table(NotificationRow)
    live = exists().where(n.c.event_key == literal("csat/") + cast(s.c.id, String), n.c.state != "withdrawn")
    done = session.execute(update(s).where(s.c.state == "sent", s.c.score.is_(None), ~live).values(
        state="withdrawn", reason="no message carries it: the request was reopened before it went, the contact "
                                  "opted out, or chose no channel for surveys"))
    return int(getattr(done, "rowcount", 0) or 0)


def csat_tick(app: App, now: datetime) -> dict[str, Any]:
    """Job ``csat.tick``: plan the surveys due at `now` and hand them to notify (the event
    ``csat.survey`` per survey, in the same transaction as the rows)."""
    config: CsatConfig = app.config.section("csat")
    if not config.enabled:
        return {"enabled": False}
    links = app.config.section("links")
    key = require_secret(links, "csat surveys", file=app.config.source)
    with app.store.transaction() as session:
        withdrawn = settle_unsent(session)
        written = plan_surveys(session, config, now)
        unit = app.bus.unit(session, now, app.config)
        publish_surveys(unit, [(i, t) for i, t, state in written if state == "sent"], key=key,
                        base_url=links.base_url, config=config, now=now)
        unit.complete()
    states = {name: sum(1 for *_, state in written if state == name) for name in ("sent", "suppressed", "capped")}
    states["withdrawn"] = withdrawn
    if written:
        log.info("csat: %d survey(s) sent, %d suppressed, %d capped", states["sent"], states["suppressed"],
                 states["capped"], extra={"event": "csat.survey.planned"})
    return states


def survey_url(key: bytes, base_url: str, ticket_id: int, survey_id: int, expires: datetime) -> str:
    """The rating page's URL for one survey, signed until `expires` (the end of its window)."""
    token = sign(key, "rating", rating_subject(ticket_id, survey_id), expires=expires)
    return base_url + PAGES["rating"].format(token=token)


def publish_surveys(unit: Unit, due: list[tuple[int, int]], *, key: bytes, base_url: str, config: CsatConfig,
                    now: datetime) -> None:
    """``csat.survey`` for each (survey, request) of `due`, with its signed link."""
    expires = now + config.window
    for survey_id, ticket_id in due:
        unit.publish(DomainEvent("csat.survey", "ticket", ticket_id, "csat",
                                 {"survey": survey_id, "url": survey_url(key, base_url, ticket_id, survey_id, expires),
                                  "scale": config.scale}))


def send_now(app: App, ticket_id: int, now: datetime) -> dict[str, Any]:
    """The survey of request `ticket_id`'s resolution, sent at `now` whatever the delay and
    the cap (``crm-bridge csat send``); a survey already open is sent once only (notify's
    key), and its link is returned again.

    Raises:
        ValueError: the request is not resolved or closed.
    """
    config: CsatConfig = app.config.section("csat")
    links = app.config.section("links")
    key = require_secret(links, "csat surveys", file=app.config.source)
    with app.store.transaction() as session:
        ticket = session.get(TicketRow, ticket_id)
        if ticket is None or ticket.deleted or ticket.status not in _DONE:
            status = "deleted" if ticket is None or ticket.deleted else ticket.status
            msg = f"is {status}: a survey follows a resolution; it is sent once the request is resolved or closed"
            raise ValueError(msg)
        resolution = ticket.resolved_at or ticket.closed_at or now
        row = session.scalar(select(SurveyRow).where(SurveyRow.ticket_id == ticket_id, SurveyRow.resolved_at == resolution))
        what = "survey already sent; the same link"
        if row is None or row.state != "sent" or row.expires_at is None or row.expires_at <= now:
            what = "survey sent (delay and cap skipped)"
            if row is None:
                row = SurveyRow(ticket_id=ticket_id, resolved_at=resolution, changes=0,
                                contact_key=f"contact:{ticket.contact_id}" if ticket.contact_id else
                                (f"customer:{ticket.customer_id}" if ticket.customer_id else None))
                session.add(row)
            row.state, row.reason, row.planned_at, row.expires_at = "sent", "crm-bridge csat send", now, now + config.window
            session.flush()
        assert row.expires_at is not None
        unit = app.bus.unit(session, now, app.config)
        unit.publish(DomainEvent("csat.survey", "ticket", ticket_id, "csat", {
            "survey": row.id, "url": survey_url(key, links.base_url, ticket_id, row.id, row.expires_at), "scale": config.scale}))
        unit.complete()
        url = survey_url(key, links.base_url, ticket_id, row.id, row.expires_at)
        return {"survey": row.id, "url": url, "expires": row.expires_at, "what": what}


def demo_line(app: App) -> str | None:
    """``crm-bridge demo --keep-running``'s line: a survey sent now for the request resolved
    last, with its rating link (None when nothing is resolved)."""
    with app.store.transaction() as session:
        found = session.execute(select(TicketRow.id, TicketRow.number).where(
            TicketRow.status.in_(_DONE), TicketRow.deleted.is_(False))
            .order_by(TicketRow.resolved_at.desc(), TicketRow.id.desc()).limit(1)).first()
    if found is None:
        return None
    sent = send_now(app, found.id, app.clock())
    return f"A customer's survey ({found.number}, also mailed): {sent['url']}"
