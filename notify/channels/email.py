"""The e-mail channel: a row (or a digest of one recipient's rows) as one mail over SMTP.

``notify.channels.smtp`` speaks SMTP and turns its answers into errors; this module turns
those into outcomes: a 4xx, a dropped connection or a timeout → ``RetryAfter`` (with the
least wait the code stands for), a 5xx → ``Parked``, a refused login → an administrative
``RetryAfter`` (every due mail waits, no attempts spent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from crm_bridge.errors import RemoteError
from notify.channels import Outcome, Sent, outcome_of
from notify.channels.smtp import Mailer
from notify.digest import DIGEST_MAX, digest_message
from notify.outgoing import Outgoing
from notify.settings import EmailChannel
from notify.templates import Rendered, TemplateProblem, Templates

__all__ = ["EmailSender"]

log = logging.getLogger(__name__)


class EmailSender:
    """The ``email`` channel of one dispatch pass: one SMTP session, reused.

    Example::

        sender = EmailSender(config.email, templates, now)
        outcomes = sender.send(claims)       # one mail: a single row, or a digest of them
        sender.close()
    """

    name = "email"
    folds = DIGEST_MAX

    def __init__(self, config: EmailChannel, templates: Templates, now: datetime) -> None:
        self.config, self.templates, self.now = config, templates, now
        self.mailer = Mailer(config)
        self.digests = 0  # mails that carried several rows

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        return templates.render(event, lang, context)

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        if len(batch) == 1:
            return self._deliver(batch[0].message(self.config, self.now), len(batch), note=None)
        try:
            message = digest_message(self.config, batch, self.templates, self.now)
        except TemplateProblem:  # an edited digest template: the rows go alone rather than wait
            log.exception("digest to %s does not render, its %d rows go one by one", batch[0].recipient, len(batch),
                          extra={"event": "notify.dispatch.digest_template"})
            return [outcome for claim in batch for outcome in self.send([claim])]
        outcomes = self._deliver(message, len(batch), note=f"in digest {message['Message-ID']} with {len(batch) - 1} more")
        self.digests += isinstance(outcomes[0], Sent)
        return outcomes

    def _deliver(self, message: EmailMessage, rows: int, *, note: str | None) -> list[Outcome]:
        try:
            self.mailer.send(message)
        except RemoteError as exc:
            return [outcome_of(exc)] * rows
        return [Sent(note)] * rows

    def close(self) -> None:
        self.mailer.close()

