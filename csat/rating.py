"""A customer's rating: checked against its survey, stored, written back, followed up.

``open_survey`` turns a verified rating link into its survey (or refuses it as web's
refusal page does); ``rate`` stores a score and comment — one rating per survey, changed
as often as the customer likes inside its window — then, in the same transaction:

* ``record.changed`` with ``csat_score`` and ``csat_comment`` (the sync outbox writes
  them to the CRM request, through the fields an integrator maps);
* ``csat.low`` when the score is at or below ``csat.low_at`` (notify alerts the
  supervisor; ``version`` grows with each change, so a changed low rating is told again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.errors import BridgeError
from crm_bridge.events import DomainEvent
from crm_bridge.links import Link, LinkExpired, LinkNotForThis, verify
from crm_bridge.store.tables import TicketRow
from csat.settings import SCORES, CsatConfig
from csat.tables import SurveyRow

__all__ = ["MAX_COMMENT", "BadRating", "Survey", "open_survey", "rate", "survey_of"]

log = logging.getLogger(__name__)
MAX_COMMENT = 2000  # characters kept of a comment (1C's string attributes hold less; the mapping may cut further)


class BadRating(BridgeError):
    """A score the survey's scale does not offer (a hand-made URL or form)."""


@dataclass(frozen=True, slots=True)
class Survey:
    """What the rating page shows."""

    id: int
    ticket_id: int
    number: str
    subject: str
    expires_at: datetime
    score: int | None
    comment: str | None


def survey_of(session: Session, link: Link, now: datetime) -> SurveyRow:
    """The survey a verified ``rating`` link names.

    Raises:
        LinkNotForThis: the link names no survey of that request.
        LinkExpired: the survey's window is over (the token's expiry is the same instant).
    """
    ticket_part, _, survey_part = link.ident.partition(".")
    row = session.get(SurveyRow, int(survey_part)) if survey_part.isdigit() else None
    if row is None or str(row.ticket_id) != ticket_part or row.state != "sent" or row.expires_at is None:
        raise LinkNotForThis(f"a rating link for {link.subject}, which names no survey sent")
    if now >= row.expires_at:
        raise LinkExpired(f"a rating link for {link.subject}: its survey closed at {row.expires_at.isoformat()}")
    return row


def open_survey(app: App, key: bytes, token: str, now: datetime) -> Survey:
    """The survey `token` opens at `now` (reads only: a GET shows it, never changes it)."""
    link = verify(key, token, "rating", now)
    with app.store.transaction() as session:
        row = survey_of(session, link, now)
        ticket = session.get(TicketRow, row.ticket_id)
        assert ticket is not None  # the foreign key
        assert row.expires_at is not None  # survey_of checked it
        return Survey(row.id, row.ticket_id, ticket.number, ticket.subject, row.expires_at, row.score, row.comment)


def rate(app: App, key: bytes, token: str, score: int, comment: str, now: datetime) -> Survey:
    """Store `score` (and `comment`) for the survey `token` opens at `now`.

    Raises:
        LinkRefused: the link is forged, expired or for another request (web's refusal page).
        BadRating: `score` is not on the configured scale.
    """
    config: CsatConfig = app.config.section("csat")
    if score not in SCORES[config.scale]:
        msg = f"score {score} is not on the {config.scale} scale ({', '.join(map(str, SCORES[config.scale]))})"
        raise BadRating(msg)
    words = comment.strip()[:MAX_COMMENT] or None
    link = verify(key, token, "rating", now)
    with app.store.transaction() as session:
        row = survey_of(session, link, now)
        ticket = session.get(TicketRow, row.ticket_id)
        assert ticket is not None
        assert row.expires_at is not None
        if row.score is not None and (row.score, row.comment) == (score, words):
            return Survey(row.id, row.ticket_id, ticket.number, ticket.subject, row.expires_at, row.score, row.comment)
        if row.score is not None:
            row.changes += 1
        row.score, row.comment, row.rated_at = score, words, now
        ticket.csat_score, ticket.csat_comment = score, words
        unit = app.bus.unit(session, now, app.config)
        unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "csat",
                                 {"fields": {"csat_score": score, "csat_comment": words},
                                  "why": {"csat_score": "the customer's rating", "csat_comment": "the customer's rating"}}))
        if score <= config.low_at:
            unit.publish(DomainEvent("csat.low", "ticket", ticket.id, "csat",
                                     {"survey": row.id, "score": score, "comment": words, "scale": config.scale,
                                      "version": row.changes}))
        unit.complete()
        log.info("request %s rated %d", ticket.number, score,
                 extra={"event": "csat.rating.stored", "local_id": ticket.id, "changed": row.changes > 0})
        return Survey(row.id, row.ticket_id, ticket.number, ticket.subject, row.expires_at, score, words)
