"""Channels: how a claimed, rendered notification reaches its recipient.

``notify.dispatch`` claims a recipient's due rows, renders each for the row's channel
(``Channel.render``), groups them into messages (e-mail and Telegram fold many into a
digest, from ``fold_at`` rows on; SMS and webhooks send one row a message) and hands each group to ``Channel.send``, which
answers one ``Outcome`` per row, in order:

* ``Sent(note)`` — the remote took it (``note``: how, e.g. "in digest <id> with 3 more");
* ``RetryAfter(seconds, reason)`` — try again, after at least `seconds` (the remote's
  Retry-After, or None: the dispatcher's back-off decides); ``administrative``: only a
  person fixes it (a refused login, a revoked bot token), so every due row of the channel
  waits without spending attempts;
* ``Parked(reason)`` — the same message would get the same answer (an invalid number, a
  bot blocked by the user, a 4xx of a webhook receiver): a person looks at it.

A channel never raises for a remote's answer: it translates it, in one place; a
``RemoteError`` (no connection, a timeout, an answer too large) becomes an outcome through
``outcome_of``, the same for every channel. A wait is at most ``MAX_WAIT`` (an hour,
as ``crm_bridge.http.MAX_RETRY_AFTER``), whatever a remote asked. Shipped
channels: ``email`` (SMTP, ``notify.channels.email``), ``sms`` (SMS.ru's HTTP API,
``notify.channels.sms``), ``telegram`` (Bot API, ``notify.channels.telegram``) and
``webhook`` (signed JSON POSTs, ``notify.channels.webhook``).

Example — a channel for another SMS gateway plugs in as::

    class SmscChannel:
        name = "sms"
        folds = 1
        def render(self, templates, event, lang, context) -> Rendered: ...
        def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
            answer = post(...)
            return [Sent(f"SMSC id {answer['id']}")] if answer.get("id") else [Parked(answer["error"])]
        def close(self) -> None: ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from crm_bridge.errors import RemoteError

#: the longest wait an outcome asks for (``crm_bridge.http.MAX_RETRY_AFTER``, not imported: requests is not for `--help`)
MAX_WAIT = 3600.0

if TYPE_CHECKING:
    from notify.outgoing import Outgoing
    from notify.templates import Rendered, Templates

__all__ = ["CHANNELS", "Channel", "Outcome", "Parked", "RetryAfter", "Sent", "outcome_of"]

#: the values of a notification row's ``channel`` column
CHANNELS = ("email", "sms", "telegram", "webhook", "crm_note")


@dataclass(frozen=True)
class Sent:
    """The remote accepted the row's message; `note` is kept as the row's reason."""

    note: str | None = None


@dataclass(frozen=True)
class RetryAfter:
    """Try the row again, not before `seconds` (None: the back-off alone decides; more
    than ``MAX_WAIT`` is cut to it, a negative or NaN one is None)."""

    seconds: float | None
    reason: str
    administrative: bool = False

    def __post_init__(self) -> None:
        if self.seconds is not None:
            wait = None if math.isnan(self.seconds) or self.seconds < 0 else min(float(self.seconds), MAX_WAIT)
            object.__setattr__(self, "seconds", wait)


@dataclass(frozen=True)
class Parked:
    """A permanent failure: the row is parked with `reason` (a person decides)."""

    reason: str


Outcome = Sent | RetryAfter | Parked


def outcome_of(failure: RemoteError) -> Outcome:
    """A remote error as an outcome: retryable → ``RetryAfter`` (its ``retry_after``;
    administrative kept), anything else (an ``AnswerTooLarge``, a refusal) → ``Parked``."""
    if failure.retryable or failure.administrative:
        return RetryAfter(failure.retry_after, str(failure), administrative=failure.administrative)
    return Parked(str(failure))


class Channel(Protocol):
    """One way of delivering notifications (see the module docstring for an example)."""

    name: str
    folds: int  # at most this many rows to one recipient go as one message (a digest); 1: never

    def render(self, templates: Templates, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        """What a row of `event` says on this channel (raises ``TemplateProblem``)."""

    def send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        """Deliver `batch` (one recipient's rows, as one message) and say how each fared."""

    def close(self) -> None:
        """Release connections at the end of a pass."""
