"""Job ``notify.dispatch``: send the due notification rows, each on its row's channel.

A pass takes the due rows (up to ``BATCH``) grouped by (channel, recipient) and splits
each recipient's into messages (a row alone, or a digest: ``notify.digest.fold``). Each
message goes through three steps, one message after the other:

1. **claim** (one transaction per row, just before the message is sent, not all of a
   pass up front): the row's ``next_attempt_at`` moves a lease (``LEASE``) past the
   current clock only if it is still due — on SQLite and PostgreSQL alike one dispatcher
   wins, and a second dispatcher started while this one still sends finds the rows not
   claimed yet and sends them itself; a cause that is gone withdraws it, quiet hours or a
   plan not made yet postpone it; otherwise it is rendered for its channel and an attempt
   counted;
2. **send** (no transaction open: no database lock is held while the remote thinks):
   the channel (``notify.channels``: email, sms, telegram, webhook) answers an outcome
   per row — sent, retry after, parked;
3. **record** (one transaction per message: a digest's rows together): sent, or backed
   off / parked with the reason.

A fault only an administrator fixes (a refused login, a revoked token, an SMS.ru account
without money) stops the channel for the pass: its due rows, the recipient's messages not
sent yet among them, wait without spending attempts.

**Delivered once, except in two windows.** The Message-ID (a webhook's delivery id) was
drawn when the row was written.

* If the process dies after the remote accepted the message (SMTP's 250 after DATA,
  SMS.ru's or Telegram's ok, a webhook's 2xx) and before step 3 commits, the row is
  still pending; when the lease runs out it is sent again.
* If the request reached the remote but its answer did not come back (a read timeout:
  ``crm_bridge.http.NoAnswer``), the remote may have accepted it. Mail, Telegram and
  webhooks are retried — a second copy may go out; an SMS is parked "may have been sent"
  (SMS.ru would charge a second one): a person checks SMS.ru's cabinet and retries the row
  or not, unless ``notify.sms.unanswered: retry`` says to send it again.

A second mail carries the same Message-ID, so the recipient's mail client folds the two;
a webhook the same ``X-CRM-Bridge-Delivery``, so a receiver can drop it; an SMS or a
Telegram message has no such id: the recipient sees it twice (and SMS.ru charges twice).
Nowhere else can a second copy go out: a row is claimed before it is sent and marked in
the transaction right after.

Rows of a channel with no section in the configuration wait (pending) until it has one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.links import LinksConfig
from crm_bridge.model import TicketStatus
from crm_bridge.retry import backoff
from crm_bridge.store.numbers import record_label
from crm_bridge.store.tables import TicketRow
from notify.channels import Channel, Outcome, RetryAfter, Sent
from notify.compose import context_for, customer_links, request_context, unsubscribe_link
from notify.digest import fold
from notify.outgoing import Outgoing
from notify.prefs import quiet_end
from notify.ratelimit import Limiter
from notify.settings import NotifyConfig, QuietHours
from notify.shadow import backend_in_shadow, hold, stale_after_shadow
from notify.tables import NotificationRow
from notify.templates import Rendered, TemplateProblem, Templates
from sla.tables import SlaQueueRow

__all__ = ["LEASE", "DispatchStats", "notify_dispatch", "render_row", "senders", "why_withdrawn"]

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)  # a claimed row is not claimed again before this (longer than any exchange)
PLAN_POLL = timedelta(seconds=15)  # an acknowledgement waiting for its due dates looks again this often
ADMIN_WAIT = timedelta(seconds=60)
BATCH = 500


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    parked: int = 0
    withdrawn: int = 0
    waiting: int = 0
    digests: int = 0  # mails that carried several rows (each row counts in `sent`)
    shadow: int = 0  # customer mail held: its request's backend is in shadow mode (notify/shadow.py)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in vars(self).items() if k != "errors" and (v or k == "sent")}
        if self.errors:
            out["error"] = self.errors[0] if len(self.errors) == 1 else f"{self.errors[0]} (and {len(self.errors) - 1} more)"
        return out


def _current(app: App, now: datetime) -> Callable[[], datetime]:
    """The current time for leases and signatures: the app's clock, never before the
    pass's `now` (a pass run for a later `now`, as a test or a replay does)."""
    return lambda: max(now, app.clock())


def why_withdrawn(row: NotificationRow, ticket: TicketRow | None) -> str | None:
    """Why `row`'s cause is gone by now, or None while it holds."""
    if ticket is None or ticket.deleted:
        return "the request was deleted"
    status = TicketStatus(ticket.status)
    if row.event == "acknowledgement" and not status.is_open:
        return f"the request was {status.value} before its acknowledgement went out"
    wanted = row.data.get("status_to")
    if wanted is not None and ticket.status != wanted:
        return f"the request's status is {ticket.status} again, not {wanted}, by send time"
    if row.event == "csat_survey" and status.is_open:
        return "the request was reopened before its survey went out; a new resolution brings a new one"
    if row.event.startswith("sla_") and not status.is_open:
        return f"the request is {status.value}: the SLA alert is moot"
    if row.event.startswith("assigned"):
        if not status.is_open:
            return f"the request is {status.value}: who works on it no longer matters"
        if ticket.assignee_id != row.data.get("agent_id"):
            return "the request was assigned to someone else before the mail went out"
    return None


def _told_in_acknowledgement(session: Session, row: NotificationRow) -> bool:
    """Whether the customer's acknowledgement of the request names the assignee: one not
    sent yet (it is rendered with the assignee), or sent after the assignment."""
    if row.event != "assigned":
        return False
    return session.scalar(select(NotificationRow.id).where(
        NotificationRow.ticket_id == row.ticket_id, NotificationRow.recipient == row.recipient,
        NotificationRow.event == "acknowledgement", NotificationRow.state.in_(("pending", "sent")),
        (NotificationRow.sent_at.is_(None)) | (NotificationRow.sent_at >= row.created)).limit(1)) is not None


def _held(session: Session, row: NotificationRow, config: NotifyConfig, now: datetime) -> tuple[datetime, str] | None:
    """(until, why) when `row` must wait: its due dates are not planned yet, or quiet hours."""
    if row.event == "acknowledgement" and now - row.created < config.wait_for_plan and session.get(SlaQueueRow, row.ticket_id) is not None:
        return now + PLAN_POLL, "waiting for the SLA plan (the due dates the acknowledgement states)"
    quiet = config.quiet_hours
    if "quiet" in row.data:  # the contact's own (notify.prefs), written with the row
        quiet = QuietHours.parse(row.data["quiet"]) if row.data["quiet"] else None
    if quiet is not None and row.audience == "customer" and row.channel != "webhook":  # machines do not sleep
        zone = ZoneInfo(row.timezone)
        end = quiet_end(now, quiet, zone)
        if end != now:
            return end, f"quiet hours until {end.astimezone(zone):%H:%M %Z}"
    return None


def render_row(session: Session, row: NotificationRow, ticket: TicketRow, templates: Templates,
               config: NotifyConfig, channel: Channel | None = None, *,
               links: LinksConfig | None = None) -> tuple[Rendered, str | None, dict[str, Any]]:
    """What `row` says now on `channel` (default: mail), its unsubscribe link (customer
    mail only) and its facts (the request and the event as data: what a webhook posts).
    A customer's row carries the signed links of ``compose.customer_links``."""
    customer = row.audience == "customer"
    link = unsubscribe_link(config, row.recipient, links=links, issued=row.created) \
        if customer and row.channel == "email" else None
    signed = customer_links(links, ticket_id=ticket.id, contact_id=ticket.contact_id, event=row.event,
                            issued=row.created) if customer else None
    request = request_context(session, ticket)
    context = context_for(row.event, row.data, request, lang=row.language, zone=row.timezone,
                          recipient=(row.recipient_name, row.recipient), unsubscribe_url=link, links=signed)
    rendered = channel.render(templates, row.event, row.language, context) if channel is not None \
        else templates.render(row.event, row.language, context)
    return rendered, link, {**request, "facts": {k: v for k, v in row.data.items() if k != "agent_id"}}


def _claim(app: App, row_id: int, now: datetime, config: NotifyConfig, templates: Templates, channel: Channel,
           stats: DispatchStats) -> Outgoing | None:
    """Step 1: the row rendered, ready to send, or None (withdrawn, postponed, parked, taken
    by another). The lease runs from the current clock: a pass may have started long before."""
    with app.store.transaction() as session:
        claimed: CursorResult[Any] = session.execute(update(NotificationRow).where(
            NotificationRow.id == row_id, NotificationRow.state == "pending", NotificationRow.next_attempt_at <= now)
            .values(next_attempt_at=_current(app, now)() + LEASE))  # type: ignore[assignment]
        if claimed.rowcount != 1:
            return None  # another dispatcher has it
        row = session.get(NotificationRow, row_id)
        assert row is not None
        ticket = session.get(TicketRow, row.ticket_id)
        gone = why_withdrawn(row, ticket)
        if gone is None and _told_in_acknowledgement(session, row):
            gone = "the acknowledgement names the assignee"
        if gone is not None or ticket is None:
            row.state, row.reason = "withdrawn", gone
            stats.withdrawn += 1
            log.info("notification %d of %s withdrawn: %s", row.id, record_label(session, "ticket", row.ticket_id), gone,
                     extra={"event": "notify.dispatch.withdrawn", "local_id": row.ticket_id})
            return None
        if row.audience == "customer":
            shadow = backend_in_shadow(session, app.registry, app.config, row.ticket_id)
            if shadow is not None:
                hold(row, shadow, now)
                stats.shadow += 1
                return None
            stale = stale_after_shadow(row, now, config.shadow_max_age)
            if stale is not None:
                row.state, row.reason = "withdrawn", stale
                stats.withdrawn += 1
                log.info("notification %d withdrawn: %s", row.id, stale, extra={"event": "notify.dispatch.withdrawn"})
                return None
        held = _held(session, row, config, now)
        if held is not None:
            row.next_attempt_at, row.reason = held
            stats.waiting += 1
            return None
        try:
            rendered, link, facts = render_row(session, row, ticket, templates, config, channel,
                                               links=app.config.section("links"))
        except TemplateProblem as exc:  # `check` renders the samples; a file edited since can still fail
            row.state, row.reason = "parked", f"template: {exc}; fix it, run crm-bridge check, then retry the row"
            stats.parked += 1
            stats.errors.append(str(exc))
            log.exception("notification %d of request %s parked: its template does not render", row.id, ticket.number,
                          extra={"event": "notify.dispatch.template", "number": ticket.number, "local_id": ticket.id})
            return None
        row.attempts += 1
        return Outgoing(row.id, row.recipient, row.recipient_name, row.audience, row.event, row.language, row.timezone,
                        row.message_id, row.thread_root, rendered, link, row.channel, facts)


def _record(app: App, group: Sequence[Outgoing], outcomes: Sequence[Outcome], now: datetime, config: NotifyConfig,
            stats: DispatchStats) -> None:
    """Step 3, for one message's rows in one transaction: each sent (its note: how, e.g. in
    which digest), or its failure's back-off or parking."""
    with app.store.transaction() as session:
        for claim, outcome in zip(group, outcomes, strict=True):
            row = session.get(NotificationRow, claim.row_id)
            assert row is not None
            _record_row(session, row, now, config, stats, subject=claim.rendered.subject, outcome=outcome)


def _record_row(session: Session, row: NotificationRow, now: datetime, config: NotifyConfig, stats: DispatchStats, *,
                subject: str, outcome: Outcome) -> None:
    if isinstance(outcome, Sent):
        row.state, row.sent_at, row.subject, row.reason = "sent", now, subject[:1000], outcome.note
        stats.sent += 1
        return
    row.reason = outcome.reason
    if isinstance(outcome, RetryAfter) and outcome.administrative:
        row.attempts = max(row.attempts - 1, 0)
        row.next_attempt_at = now + max(ADMIN_WAIT, timedelta(seconds=outcome.seconds or 0))
        stats.retried += 1
    elif isinstance(outcome, RetryAfter) and row.attempts < config.max_attempts:
        row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts, outcome.seconds, base=30.0, cap=3600.0))
        stats.retried += 1
    else:
        row.state = "parked"
        if isinstance(outcome, RetryAfter):
            row.reason = f"gave up after {row.attempts} attempts: {outcome.reason.removesuffix('; will retry')}"
        stats.parked += 1
    stats.errors.append(outcome.reason)
    log.warning("notification %d of %s to %s via %s: %s", row.id, record_label(session, "ticket", row.ticket_id),
                row.recipient if row.channel != "webhook" else "a webhook", row.channel, outcome.reason,
                extra={"event": "notify.dispatch.failed", "local_id": row.ticket_id, "channel": row.channel})


def _hold_all(app: App, now: datetime, channel: str, reason: str) -> None:
    """A fault only an administrator fixes (a login, a token): every due row of the
    channel waits, no attempts spent."""
    with app.store.transaction() as session:
        session.execute(update(NotificationRow).where(
            NotificationRow.state == "pending", NotificationRow.channel == channel, NotificationRow.next_attempt_at <= now)
            .values(next_attempt_at=now + ADMIN_WAIT, reason=reason))


def _due_by_recipient(app: App, now: datetime, channels: Iterable[str]
                      ) -> tuple[dict[tuple[str, str], list[int]], set[tuple[str, str]]]:
    """The due rows of `channels` (up to ``BATCH``), grouped by (channel, recipient) in
    the order they fell due, and the groups that are a scheduled (hourly/daily) digest of
    a contact's preferences (``notify.prefs``)."""
    groups: dict[tuple[str, str], list[int]] = {}
    scheduled: set[tuple[str, str]] = set()
    with app.store.transaction() as session:
        for row_id, channel, recipient, data in session.execute(
                select(NotificationRow.id, NotificationRow.channel, NotificationRow.recipient, NotificationRow.data).where(
                    NotificationRow.state == "pending", NotificationRow.next_attempt_at <= now,
                    NotificationRow.channel.in_(list(channels)))
                .order_by(NotificationRow.next_attempt_at, NotificationRow.id).limit(BATCH)):
            groups.setdefault((channel, recipient), []).append(row_id)
            if (data or {}).get("fold"):
                scheduled.add((channel, recipient))
    return groups, scheduled


def senders(config: NotifyConfig, templates: Templates, now: datetime,
            clock: Callable[[], datetime] | None = None, app: App | None = None) -> dict[str, Channel]:
    """The configured channels of one pass, by the name rows carry in ``channel``
    (`clock`: the current time, which a webhook's signature states; default: `now`;
    `app`: the store the CRM-note channel writes to through the sync outbox)."""
    from notify.channels.crm_note import CrmNoteSender
    from notify.channels.email import EmailSender
    from notify.channels.sms import SmsRuSender
    from notify.channels.telegram import TelegramSender
    from notify.channels.webhook import WebhookSender

    out: dict[str, Channel] = {}
    if config.email is not None:
        out["email"] = EmailSender(config.email, templates, now)
    if config.sms is not None:
        out["sms"] = SmsRuSender(config.sms)
    if config.telegram is not None:
        out["telegram"] = TelegramSender(config.telegram, templates)
    if config.webhooks:
        out["webhook"] = WebhookSender(config.webhooks, clock or (lambda: now))
    if config.crm_note is not None and app is not None:  # writes to the store: needs the app
        out["crm_note"] = CrmNoteSender(app, config.crm_note, now)
    return out


def notify_dispatch(app: App, now: datetime) -> dict[str, Any]:
    """Job ``notify.dispatch``: send every due row (up to ``BATCH`` per pass) on its
    channel; a recipient with ``fold_at`` or more due rows gets them as digests by mail and
    Telegram (see ``notify.digest``)."""
    config: NotifyConfig = app.config.section("notify")
    stats = DispatchStats()
    if not config.enabled:
        return stats.summary()
    templates = Templates(config.templates)
    channels = senders(config, templates, now, _current(app, now), app)
    limiter = Limiter(app, config.rate_limits, now, app.config.timezone)
    held: set[str] = set()  # channels whose fault only an administrator fixes: no more this pass
    try:
        groups_due, scheduled = _due_by_recipient(app, now, channels)
        for (name, recipient), ids in groups_due.items():
            channel = channels[name]
            # a contact who chose an hourly or daily digest gets one, however few rows it holds
            fold_at = 2 if (name, recipient) in scheduled else config.fold_at
            # a message's rows are claimed just before it goes; a rate limit weighs all of the recipient's at once
            for planned in [ids] if limiter.active else fold(ids, fold_at, channel.folds):
                if name in held:
                    break
                claims = [c for c in (_claim(app, i, now, config, templates, channel, stats) for i in planned) if c is not None]
                groups, later = limiter.admit(recipient, name, fold(claims, fold_at, channel.folds),
                                              refold=partial(fold, fold_at=2, size=channel.folds))
                stats.waiting += len(later)
                for index, group in enumerate(groups):
                    outcomes = channel.send(group)
                    _record(app, group, outcomes, now, config, stats)
                    admin = next((o for o in outcomes if isinstance(o, RetryAfter) and o.administrative), None)
                    if admin is not None:  # rows claimed but not sent wait as the fault says; those not claimed are held
                        rest = [c for g in groups[index + 1:] for c in g]
                        if rest:
                            _record(app, rest, [admin] * len(rest), now, config, stats)
                        _hold_all(app, now, name, admin.reason)
                        held.add(name)
                        break
    finally:
        limiter.save()
        for channel in channels.values():
            channel.close()
        stats.digests += sum(getattr(channel, "digests", 0) for channel in channels.values())
    return stats.summary()
