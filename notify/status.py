"""The notify part of ``crm-bridge status``: mails waiting to be sent and mails parked.

A parked mail will not be sent without a person (its template does not render, the
address is refused, the retries are spent), so it makes ``status`` fail with the command
that shows why.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from crm_bridge.status import Problem, Section

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["notify_status"]


def notify_status(app: App, now: datetime) -> Section:
    """The ``status.section`` of notify: the notify outbox by state."""
    from notify.tables import NotificationRow

    with app.store.transaction() as s:
        states = dict(s.execute(select(NotificationRow.state, func.count()).group_by(NotificationRow.state))
                      .all())
    counts = {state: int(states.get(state, 0)) for state in ("pending", "parked", "sent", "withdrawn")}
    section = Section("notify", "Notifications", data={"mails": counts}, order=40)
    section.lines.append(("mails", f"{counts['pending']:,} pending, {counts['parked']:,} parked, "
                                   f"{counts['sent']:,} sent, {counts['withdrawn']:,} withdrawn"))
    if counts["parked"]:
        section.problems.append(Problem(f"notify: {counts['parked']} mail(s) parked, not sent", "crm-bridge notify log"))
    return section
