"""What a template sees, built from a request (send time, preview) or a sample (check).

Every context has the same keys whatever the request lacks (no agent: ``agent.name`` is
None; no due date: the ``datetime`` filter prints ``—``), so a template that renders the
samples at ``check`` time renders every real request too. Placeholders::

    lang, timezone, event (name, status_from, status_to, metric, level, at, action,
                           department, tags, url: feedback to a department)
    request (number, subject, status, type, priority, created_at, first_response_due,
             resolution_due, sla_state), customer (name), contact (name), agent (name, email)
    recipient (name, address), unsubscribe_url,
    cabinet_url (customer notifications: the contact's signed cabinet link),
    close_url, reopen_url (the resolved mail: confirm closure, reopen; signed, per request)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.links import PAGES, LinkForged, LinkNotForThis, LinksConfig, link_url, sign, verify
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TicketRow
from notify.settings import LANGUAGES, NotifyConfig
from notify.templates import DIGEST, EVENTS, TemplateProblem, Templates

__all__ = ["SAMPLE_EVENTS", "UNSUBSCRIBE_TTL", "check_templates", "context_for", "customer_links", "request_context",
           "sample_contexts", "sample_digest", "token_address", "unsubscribe_link"]

_SAMPLE_AT = datetime(2027, 1, 11, 7, 56, tzinfo=UTC)
#: the event facts each kind carries (status_changed: from/to; SLA: metric, cycle, level, action)
SAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "acknowledgement": {},
    "assigned": {"agent_id": 7},
    "assigned_staff": {"agent_id": 7, "action": "assign"},
    "status_changed": {"status_from": "new", "status_to": "in_progress"},
    "resolved": {"status_from": "in_progress", "status_to": "resolved"},
    "closed": {"status_from": "resolved", "status_to": "closed"},
    "waiting_reminder": {"status_to": "waiting_customer", "at": _SAMPLE_AT.isoformat()},
    "sla_warn": {"metric": "resolution", "cycle": 1, "at": _SAMPLE_AT.isoformat()},
    "sla_breach": {"metric": "resolution", "cycle": 1, "at": _SAMPLE_AT.isoformat()},
    "sla_escalate": {"metric": "resolution", "cycle": 1, "at": _SAMPLE_AT.isoformat(), "level": 1,
                     "action": "notify_supervisor"},
    "department_feedback": {"department": "packaging", "tags": ["упаковка"],
                            "url": "https://crm.example.ru/requests/CRM-0000042"},
    "csat_survey": {"url": "https://support.example.ru/rate/t0k3n", "scale": "five"},
    "csat_low": {"score": 2, "comment": "Долго <ждали>", "scale": "five"},
}


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    at = data.get("at")
    return {"name": name, "status_from": data.get("status_from"), "status_to": data.get("status_to"),
            "metric": data.get("metric"), "level": data.get("level"), "action": data.get("action"),
            "at": datetime.fromisoformat(at) if isinstance(at, str) else at,
            "department": data.get("department"), "tags": data.get("tags") or [], "url": data.get("url"),
            "score": data.get("score"), "comment": data.get("comment"), "scale": data.get("scale")}


#: An unsubscribe link lives at least this long: a mail client offers one-click unsubscribe
#: on a mail read months later, and refusing it then pushes the customer to "report spam".
UNSUBSCRIBE_TTL = timedelta(days=365)
_ADDRESS = re.compile(r"[A-Za-z0-9_.@+-]{1,200}")  # what a link's subject may hold (crm_bridge.links)


def _unsubscribe_key(config: NotifyConfig, links: LinksConfig | None) -> bytes | None:
    """The key of unsubscribe tokens: ``links.secret`` (every customer link's), else the
    older ``notify.link_secret`` an installation may still have configured alone."""
    if links is not None and links.secret is not None:
        return links.secret.get_secret_value().encode()
    return config.link_secret.get_secret_value().encode() if config.link_secret is not None else None


def unsubscribe_link(config: NotifyConfig, address: str, *, links: LinksConfig | None = None,
                     issued: datetime | None = None) -> str | None:
    """The recipient's one-click unsubscribe URL (RFC 8058), or None when no key or URL is
    configured or the address cannot be a link's subject.

    The token is a ``crm_bridge.links`` token (purpose ``unsubscribe``, subject
    ``email:<address>``, valid ``UNSUBSCRIBE_TTL`` or ``links.ttl_days`` from `issued`, the
    row's creation: a retried mail carries the same link). The URL is ``notify.unsubscribe_url``
    when set, else the web addon's page under ``links.base_url``."""
    key = _unsubscribe_key(config, links)
    address = address.strip().lower()
    if key is None or not _ADDRESS.fullmatch(address):
        return None
    if config.unsubscribe_url is not None:
        template = config.unsubscribe_url
    elif links is not None:
        template = links.base_url + PAGES["unsubscribe"]
    else:
        return None
    life = max(UNSUBSCRIBE_TTL, links.ttl) if links is not None else UNSUBSCRIBE_TTL
    token = sign(key, "unsubscribe", f"email:{address}", expires=(issued or datetime.now(UTC)) + life)
    return template.replace("{token}", token)


def token_address(config: NotifyConfig, token: str, now: datetime, *, links: LinksConfig | None = None) -> str:
    """The address an unsubscribe token (``unsubscribe_link``'s) was signed for.

    Raises:
        LinkRefused: not signed with this installation's key, made for another purpose, or
            expired (``LinkForged``, ``LinkNotForThis``, ``LinkExpired``).
    """
    key = _unsubscribe_key(config, links)
    if key is None:
        raise LinkForged("an unsubscribe link, but neither links.secret nor notify.link_secret is configured")
    link = verify(key, token.strip(), "unsubscribe", now)
    if link.kind != "email":
        raise LinkNotForThis(f"an unsubscribe link for {link.subject}, not for an e-mail address")
    return link.ident


def customer_links(links: LinksConfig | None, *, ticket_id: int, contact_id: int | None, event: str,
                   issued: datetime) -> dict[str, str | None]:
    """The signed links a customer notification carries, as the templates name them:
    ``cabinet_url`` (the contact's cabinet, else the request's), and for ``resolved``
    ``close_url`` and ``reopen_url`` (bound to the request). Each valid ``links.ttl_days``
    from `issued` (the row's creation, so a retry renders the same links); all None
    without ``links.secret``."""
    none: dict[str, str | None] = {"cabinet_url": None, "close_url": None, "reopen_url": None}
    if links is None or links.secret is None:
        return none
    request = f"request:{ticket_id}"
    out = dict(none, cabinet_url=link_url(links, "cabinet", f"contact:{contact_id}" if contact_id else request, issued))
    if event == "resolved":
        out["close_url"] = link_url(links, "close", request, issued)
        out["reopen_url"] = link_url(links, "reopen", request, issued)
    return out


def context_for(event: str, data: dict[str, Any], request: dict[str, Any], *, lang: str, zone: str,
                recipient: tuple[str | None, str], unsubscribe_url: str | None,
                links: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The template context: `request` as ``request_context`` builds it, plus the event and
    the signed links (``customer_links``; None each for staff)."""
    return {"lang": lang, "timezone": zone, "event": _event(event, data), **request,
            "recipient": {"name": recipient[0], "address": recipient[1]}, "unsubscribe_url": unsubscribe_url,
            "cabinet_url": None, "close_url": None, "reopen_url": None, **(links or {})}


def request_context(session: Session, ticket: TicketRow) -> dict[str, Any]:
    """The request, its customer, contact and assignee as the templates name them."""
    customer = session.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
    contact = session.get(ContactRow, ticket.contact_id) if ticket.contact_id else None
    agent = session.get(AgentRow, ticket.assignee_id) if ticket.assignee_id else None
    return {
        "request": {"number": ticket.number, "subject": ticket.subject, "status": ticket.status, "type": ticket.type,
                    "priority": ticket.priority, "created_at": ticket.created_at,
                    "first_response_due": ticket.first_response_due, "resolution_due": ticket.resolution_due,
                    "sla_state": ticket.sla_state},
        "customer": {"name": customer.name if customer else None},
        "contact": {"name": contact.name if contact else None},
        "agent": {"name": agent.name if agent else None, "email": agent.email if agent else None},
    }


def sample_contexts(event: str, lang: str) -> list[tuple[str, dict[str, Any]]]:
    """Two samples per event: a full request and a sparse one (no customer, agent or due dates)."""
    opened = _SAMPLE_AT - timedelta(hours=1)
    full: dict[str, dict[str, Any]] = {
        "request": {"number": "CRM-0000042", "subject": "Не проходит оплата <картой>", "status": "in_progress",
                    "type": "technical_problem", "priority": "high", "created_at": opened,
                    "first_response_due": opened + timedelta(hours=2), "resolution_due": _SAMPLE_AT + timedelta(days=1),
                    "sla_state": "on_track"},
        "customer": {"name": "ООО «Ромашка»"}, "contact": {"name": "Иванова Мария Петровна"},
        "agent": {"name": "Петров Пётр", "email": "petrov@example.ru"},
    }
    sparse: dict[str, dict[str, Any]] = {
        "request": {**full["request"], "subject": "", "first_response_due": None, "resolution_due": None, "sla_state": None},
        "customer": {"name": None}, "contact": {"name": None}, "agent": {"name": None, "email": None},
    }
    base = "https://support.example.ru"
    signed = {"cabinet_url": f"{base}/cabinet/t0k3n", "close_url": f"{base}/close/t0k3n" if event == "resolved" else None,
              "reopen_url": f"{base}/reopen/t0k3n" if event == "resolved" else None}
    return [(label, context_for(event, SAMPLE_EVENTS[event], sample, lang=lang, zone="Europe/Moscow",
                                recipient=("Иванова Мария Петровна", "m.ivanova@example.ru"),
                                unsubscribe_url=url, links=made))
            for label, sample, url, made in (
                ("a full sample request", full, f"{base}/unsubscribe/t0k3n", signed),
                ("a sparse sample request", sparse, None, None))]


def sample_digest(lang: str) -> dict[str, object]:
    """The digest's context for two sample rows (what ``notify.digest.digest_context`` builds)."""
    return {"lang": lang, "timezone": "Europe/Moscow", "count": 2, "sla_only": True, "staff": True,
            "items": [{"subject": "[SLA] CRM-0000042", "text": "Не проходит оплата <картой>"},
                      {"subject": "[SLA] CRM-0000043", "text": "Second"}],
            "recipient": {"name": "Петров Пётр", "address": "petrov@example.ru"},
            "unsubscribe_url": "https://support.example.ru/unsubscribe/t0k3n"}


def check_templates(app: App) -> list[dict[str, Any]]:
    """``crm-bridge check`` lines: every template of every event and language rendered
    against the samples; a failure names the file and line."""
    from notify.channels.sms import render_sms  # `check` alone loads requests for them
    from notify.channels.telegram import render_telegram, render_telegram_digest

    config: NotifyConfig = app.config.section("notify")
    if not config.enabled:
        return [{"what": "notify templates", "ok": True, "detail": "notify is off (no email, sms, telegram or webhooks section)"}]
    templates = Templates(config.templates)
    problems: list[str] = []
    for lang in LANGUAGES:
        for event in EVENTS:
            for label, context in sample_contexts(event, lang):
                try:
                    templates.render(event, lang, context)
                    render_sms(templates, event, lang, context, config.sms.max_segments if config.sms else 3)
                    render_telegram(templates, event, lang, context)
                except TemplateProblem as exc:
                    if str(exc) not in problems:
                        problems.append(f"{exc} (rendering {label})")
                    break
        try:
            templates.render(DIGEST, lang, sample_digest(lang))
            render_telegram_digest(templates, sample_digest(lang))
        except TemplateProblem as exc:
            problems.append(f"{exc} (rendering a sample digest)")
    if problems:
        return [{"what": "notify templates", "ok": False, "detail": p} for p in problems]
    where = ", ".join(str(f) for f in templates.folders)
    return [{"what": "notify templates", "ok": True,
             "detail": f"{len(EVENTS)} events (mail, SMS, Telegram) and the digest x {len(LANGUAGES)} languages render ({where})"}]
