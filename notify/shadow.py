"""Customer mail about requests of a backend in shadow mode (``write_back: shadow``).

While a backend is in shadow mode, crm-bridge must not speak to its customers either: a
customer row about one of its requests is *held* — it stays pending, says why in its
``reason`` (``crm-bridge notify log`` shows it: "shadow mode: would send"), is marked
``data["shadow"] = <backend>`` and is looked at again every ``SHADOW_POLL``. Staff alerts
are not held: the integrators watching the shadow run are their readers.

After the switch to live, a held row is sent if it is still fresh, and withdrawn — with
the reason "decided during shadow mode" — once it is older than ``shadow_max_age`` (notify
config, default 1 h): a customer gets no week-old acknowledgement. The cause checks of
``why_withdrawn`` (a closed request, a status gone) apply before, as for every row.

Which request belongs to which backend is sync's knowledge: it is asked through the
registry (``usage="shadow.records"``), so notify imports no sync module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.tables import NotificationRow

__all__ = ["SHADOW_POLL", "STALE_REASON", "backend_in_shadow", "held_mail", "stale_after_shadow"]

SHADOW_POLL = timedelta(minutes=1)  # a held row is looked at again this often (the switch to live is seen by then)
STALE_REASON = "decided during shadow mode"


def backend_in_shadow(session: Session, registry: Any, config: Any, ticket_id: int) -> str | None:
    """The backend in shadow mode the request is bound to, or None (sent as usual)."""
    for component in registry.all("shadow.records"):
        found: dict[int, str] = component.obj(session, config, "ticket", [ticket_id])
        if ticket_id in found:
            return found[ticket_id]
    return None


def hold(row: NotificationRow, backend: str, now: datetime) -> None:
    """Keep `row` pending, marked as held by `backend`'s shadow mode."""
    row.next_attempt_at = now + SHADOW_POLL
    row.reason = f"shadow mode ({backend}): would send to the customer; held / теневой режим: не отправлено"
    if row.data.get("shadow") != backend:
        row.data = {**row.data, "shadow": backend}


def stale_after_shadow(row: NotificationRow, now: datetime, max_age: timedelta) -> str | None:
    """Why a row held in shadow mode is withdrawn now that it could go, or None to send it."""
    if row.data.get("shadow") and now - row.created > max_age:
        return f"{STALE_REASON} ({row.data['shadow']}), {_age(now - row.created)} ago"
    return None


def _age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {int(delta.total_seconds() // 60) % 60} min"


def held_mail(session: Session, backend: str | None, since: datetime | None) -> list[str]:
    """The shadow report's line about customer mail held (``usage="shadow.report"``)."""
    query = select(NotificationRow.data).where(NotificationRow.state == "pending", NotificationRow.audience == "customer")
    if since is not None:
        query = query.where(NotificationRow.created >= since)
    count = sum(1 for data in session.scalars(query)
                if data.get("shadow") and (backend is None or data.get("shadow") == backend))
    if not count:
        return []
    return [f"{count} customer mail(s) held, would be sent / писем клиентам задержано: {count} — "
            "see `crm-bridge notify log`"]
