"""The notify part of ``crm-bridge status``: notifications waiting, parked, sent, by channel.

A parked notification will not be sent without a person (its template does not render,
the address or number is refused, the bot blocked, the retries are spent), so it makes
``status`` fail with the command that shows why; so do rows of a channel the
configuration has no section for (they wait forever).
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
        found = s.execute(select(NotificationRow.channel, NotificationRow.state, func.count())
                          .group_by(NotificationRow.channel, NotificationRow.state)).all()
    states = ("pending", "parked", "sent", "withdrawn")
    channels: dict[str, dict[str, int]] = {}
    for channel, state, n in found:
        channels.setdefault(channel, dict.fromkeys(states, 0))[state] = int(n)
    counts = {state: sum(c[state] for c in channels.values()) for state in states}  # every channel's
    section = Section("notify", "Notifications", data={"mails": counts, "channels": channels}, order=40)
    for channel, c in sorted(channels.items(), key=lambda item: item[0] != "email"):
        label = "mails" if channel == "email" else channel
        section.lines.append((label, f"{c['pending']:,} pending, {c['parked']:,} parked, "
                                     f"{c['sent']:,} sent, {c['withdrawn']:,} withdrawn"))
    if not channels:
        section.lines.append(("mails", "0 pending, 0 parked, 0 sent, 0 withdrawn"))
    if counts["parked"]:
        section.problems.append(Problem(f"notify: {counts['parked']} notification(s) parked, not sent", "crm-bridge notify log"))
    config = app.config.section("notify")
    for channel, c in channels.items():
        if c["pending"] and not config.configured(channel):
            key = "webhooks" if channel == "webhook" else channel
            section.problems.append(Problem(f"notify: {c['pending']} {channel} notification(s) wait: notify has no "
                                            f"`{key}:` section", f"add notify.{key} to the configuration"))
    return section
