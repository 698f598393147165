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

from sqlalchemy import String, and_, case, cast, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.events import DomainEvent
from crm_bridge.links import PAGES, require_secret, sign
from crm_bridge.store.tables import TicketRow, core_table
from crm_bridge.store.types import UTCDateTime
from csat.settings import CsatConfig
from csat.tables import SurveyRow

__all__ = ["Candidate", "csat_tick", "decide", "plan_surveys", "rating_subject"]

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


def plan_surveys(session: Session, config: CsatConfig, now: datetime) -> list[tuple[int, int]]:
    """Write the survey rows due at `now` in one statement; the (survey id, request id) of
    those to send."""
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
    return [(i, tid) for i, tid in session.execute(
        select(s.c.id, s.c.ticket_id).where(s.c.id > before, s.c.state == "sent").order_by(s.c.id))]


def csat_tick(app: App, now: datetime) -> dict[str, Any]:
    """Job ``csat.tick``: plan the surveys due at `now` and hand them to notify (the event
    ``csat.survey`` per survey, in the same transaction as the rows)."""
    config: CsatConfig = app.config.section("csat")
    if not config.enabled:
        return {"enabled": False}
    links = app.config.section("links")
    key = require_secret(links, "csat surveys", file=app.config.source)
    with app.store.transaction() as session:
        due = plan_surveys(session, config, now)
        unit = app.bus.unit(session, now, app.config)
        publish_surveys(unit, due, key=key, base_url=links.base_url, config=config, now=now)
        unit.complete()
        states = dict(session.execute(select(SurveyRow.state, func.count()).where(SurveyRow.planned_at == now)
                                      .group_by(SurveyRow.state)).tuples().all())
    if due:
        log.info("csat: %d survey(s) sent", len(due), extra={"event": "csat.survey.planned"})
    return {"sent": states.get("sent", 0), "suppressed": states.get("suppressed", 0), "capped": states.get("capped", 0)}


def publish_surveys(unit: Any, due: list[tuple[int, int]], *, key: bytes, base_url: str, config: CsatConfig,
                    now: datetime) -> None:
    """``csat.survey`` for each (survey, request) of `due`, with its signed link."""
    expires = now + config.window
    for survey_id, ticket_id in due:
        token = sign(key, "rating", rating_subject(ticket_id, survey_id), expires=expires)
        url = base_url + PAGES["rating"].format(token=token)
        unit.publish(DomainEvent("csat.survey", "ticket", ticket_id, "csat",
                                 {"survey": survey_id, "url": url, "scale": config.scale}))
