"""The ``crm_note`` channel: a notification becomes a note in the request's history in the CRM.

"Sending" is local: in one transaction the channel stores a ``note`` record
(``crm_bridge.store.tables.NoteRow``, keyed by the row's Message-ID) and publishes
``record.created``; the sync addon's outbox handler (``sync.outbox.enqueue_create``) binds
it and queues its creation in every backend whose ``create_remote`` lists ``note``, and
``sync.dispatch`` creates it there (1C: ``Catalog_Заметки`` with the request as
``Предмет``; ``adapters/onec/data/mappings/note.yaml``). Exactly once: a retried row finds
its note by the key, and the outbox's identity key and correlation key keep the CRM to one
record however often the create is retried.

Example::

    channel = CrmNoteSender(app, config.crm_note, now)
    channel.send([outgoing])      # [Sent("CRM note 17, queued for the CRM")]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import NoteRow
from notify.channels import Outcome, RetryAfter, Sent
from notify.tables import NotificationRow

if TYPE_CHECKING:
    from notify.outgoing import Outgoing
    from notify.settings import CrmNote
    from notify.templates import Rendered, Templates

__all__ = ["CrmNoteSender", "note_text"]

log = logging.getLogger(__name__)
NOTE_CHANNEL = "notify"  # a note's `channel`: written by notify


def note_text(rendered: Rendered) -> str:
    """What the note says: the mail's subject, a blank line, its plain text."""
    return f"{rendered.subject.strip()}\n\n{rendered.text.strip()}".strip()


class CrmNoteSender:
    """Writes each row as a note of its request (see the module docstring)."""

    name = "crm_note"
    folds = 1  # a note per notification, never a digest

    def __init__(self, app: Any, config: CrmNote, now: datetime) -> None:
        self._app, self._config, self._now = app, config, now

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        """The mail's rendering (subject and plain text; the note is text)."""
        return templates.render(event, lang, context)

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        out: list[Outcome] = []
        for item in batch:
            try:
                out.append(self._write(item))
            except SQLAlchemyError as exc:  # the store, not the CRM: try again later
                log.warning("note of notification %d not stored: %s", item.row_id, type(exc).__name__,
                            extra={"event": "notify.crm_note.failed"})
                out.append(RetryAfter(None, f"the note could not be stored ({type(exc).__name__}); will retry"))
        return out

    def _write(self, item: Outgoing) -> Outcome:
        with self._app.store.transaction() as session:
            found = session.scalar(select(NoteRow.id).where(NoteRow.source_key == item.message_id))
            if found is not None:  # written by an attempt that died before recording the row
                return Sent(f"CRM note {found} (written by an earlier attempt)")
            ticket_id = session.scalar(select(NotificationRow.ticket_id).where(NotificationRow.id == item.row_id))
            note = NoteRow(ticket_id=ticket_id, channel=NOTE_CHANNEL, text=note_text(item.rendered), created=self._now,
                           author=self._config.author, about="ticket", source_key=item.message_id)
            session.add(note)
            session.flush()
            unit = self._app.bus.unit(session, self._now, self._app.config)
            unit.publish(DomainEvent("record.created", "note", note.id, "notify", {}))
            unit.complete()
            note_id = note.id
        log.info("notification %d noted in the request's history (note %d)", item.row_id, note_id,
                 extra={"event": "notify.crm_note.written", "local_id": ticket_id})
        return Sent(f"CRM note {note_id}, queued for the CRM")

    def close(self) -> None:
        """Nothing held between passes."""
