"""The intake part of ``crm-bridge status``: the inbox by state.

A message waiting for review is a customer nobody answers until a person says who wrote;
a failed one could not be decided. Either makes ``status`` fail with the command that acts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from crm_bridge.status import Problem, Section

if TYPE_CHECKING:
    from crm_bridge.app import App

__all__ = ["intake_status"]

STATES = ("new", "registered", "threaded", "review", "ignored", "failed")


def intake_status(app: App, now: datetime) -> Section:
    """The ``status.section`` of intake: inbound messages by state."""
    from intake.tables import InboxRow

    with app.store.transaction() as s:
        states = dict(s.execute(select(InboxRow.state, func.count()).group_by(InboxRow.state)).all())
    counts = {state: int(states.get(state, 0)) for state in STATES}
    section = Section("intake", "Inbound mail", data={"messages": counts}, order=45)
    if not app.config.section("intake").enabled and not any(counts.values()):
        section.lines.append(("channels", "none configured (intake.smtp, intake.imap)"))
        return section
    section.lines.append(("messages", ", ".join(f"{counts[s]:,} {s}" for s in STATES)))
    if counts["review"]:
        section.problems.append(Problem(f"intake: {counts['review']} message(s) wait for a person to say who wrote",
                                        "crm-bridge intake review"))
    if counts["failed"]:
        section.problems.append(Problem(f"intake: {counts['failed']} message(s) could not be decided",
                                        "crm-bridge intake log --state failed"))
    return section
