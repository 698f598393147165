"""Folding: many due notifications to one recipient go out as digests, not a mail each.

A first import of a base with 50 breached requests, or 10,000 requests of one customer
changing status at once, would otherwise send a mail per request. ``fold`` splits one
recipient's claimed rows of a pass into groups: below ``fold_at`` each row is its own
mail (threaded under its request, as always); from ``fold_at`` on they go in digests of
at most ``DIGEST_MAX`` rows. Every row is still recorded on its own (sent, "in digest
<Message-ID>"), so ``notify log`` answers for each request.

A digest's Message-ID is derived from the rows it carries: if the process dies after the
server accepted it and before the rows are marked, the rows fall due again and the same
digest goes out with the same Message-ID, which mail clients fold — the same at-least-once
window as a single mail (see ``notify.dispatch``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import TypeVar

from notify.channels.smtp import build_message
from notify.outgoing import Outgoing
from notify.settings import EmailChannel
from notify.templates import DIGEST, Rendered, Templates

__all__ = ["DIGEST_MAX", "digest_context", "digest_message", "fold"]

T = TypeVar("T")
DIGEST_MAX = 200  # rows per digest: a mail stays readable (and under any server's size limit)


def fold(claims: Sequence[T], fold_at: int | None, size: int = DIGEST_MAX) -> list[list[T]]:
    """One recipient's rows as messages: a group per message (a single row, or a digest's
    rows, at most `size`: a channel's own bound, e.g. Telegram's 4,096 characters). The
    dispatcher folds a recipient's due row ids (which message each goes in), then the rows
    of each it could claim."""
    if fold_at is None or len(claims) < fold_at or size < 2:
        return [[c] for c in claims]
    groups = [list(claims[i:i + size]) for i in range(0, len(claims), size)]
    if len(groups) > 1 and len(groups[-1]) < fold_at:  # a short tail: its rows go alone, not as a tiny digest
        return [*groups[:-1], *([c] for c in groups[-1])]
    return groups


def digest_context(claims: Sequence[Outgoing]) -> dict[str, object]:
    """What the digest template sees: the rows' own subjects and texts, in due order."""
    first = claims[0]
    return {"lang": first.language, "timezone": first.timezone, "count": len(claims),
            "sla_only": all(c.event.startswith("sla_") for c in claims), "staff": first.audience == "staff",
            "items": [{"subject": c.rendered.subject, "text": c.rendered.text.strip()} for c in claims],
            "recipient": {"name": first.recipient_name, "address": first.recipient},
            "unsubscribe_url": first.unsubscribe}


def digest_message(channel: EmailChannel, claims: Sequence[Outgoing], templates: Templates, now: datetime) -> EmailMessage:
    """One mail for `claims` (one recipient's), in the first row's language.

    Raises:
        TemplateProblem: the digest template does not render (``crm-bridge check`` renders it).
    """
    rendered: Rendered = templates.render(DIGEST, claims[0].language, digest_context(claims))
    rows = ",".join(str(c.row_id) for c in sorted(claims, key=lambda c: c.row_id))
    message_id = f"<digest.{hashlib.sha256(rows.encode()).hexdigest()[:32]}@{channel.message_domain}>"
    first = claims[0]
    return build_message(channel, rendered, to=first.recipient, to_name=first.recipient_name, message_id=message_id,
                         thread_root=None, date=now, unsubscribe=first.unsubscribe)
