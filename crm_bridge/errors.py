"""Errors crm-bridge raises on purpose, typed by what the caller does next.

* ``ConfigError`` — stop at start-up; the user edits a file. The message names the file,
  line and field and says how to fix it.
* ``RemoteUnavailable`` — a remote fault that is worth retrying (timeout, 5xx, 429, 1C lock).
  ``RemoteBusy``, one of them, is the remote saying it is overloaded (429, 503): every
  call to it waits, not only the one that met it.
* ``RemoteRejected`` — the remote refused the data (4xx, SOAP Fault, 1C business error):
  retrying the same call gives the same answer; park it with the reason.
* ``RecordSkipped`` — one bad record: log it, finish the batch.

Addons subclass these in their own ``errors.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "AddonError",
    "BridgeError",
    "ConfigError",
    "RecordSkipped",
    "RemoteError",
    "RemoteBusy",
    "RemoteRejected",
    "RemoteStoredOtherwise",
    "RemoteUnavailable",
    "UsageError",
    "did_you_mean",
]


class BridgeError(Exception):
    """Root of every error crm-bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration (a file the user edits) is wrong; start-up stops."""


class UsageError(BridgeError):
    """A command-line option has a value the command does not know; exit 2, like a
    configuration error, with the valid values."""


class AddonError(ConfigError):
    """An addon cannot be loaded: missing dependency, cycle, bad manifest, missing package."""


class RemoteError(BridgeError):
    """A call to a remote system failed.

    ``retryable``: the same call may succeed later. ``administrative``: only an
    administrator can fix it (credentials, publication, permissions) — the data is not at
    fault, so the outbox waits without spending a row's attempts and an import pass goes
    on with the models the fault does not concern.
    """

    retryable: ClassVar[bool] = False
    administrative: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def once(self) -> str:
        """The message without the "will retry" a scheduled job's log rightly says: for a
        command run once (``check``, ``onec inspect``), or an outbox row out of attempts."""
        return str(self).removesuffix("; will retry")


class RemoteUnavailable(RemoteError):
    """Timeout, connection refused, 5xx, 429 or a 1C lock: retry later."""

    retryable = True


class RemoteBusy(RemoteUnavailable):
    """The remote answered that it is overloaded or down for a while (HTTP 429, 503):
    a write-back pass stops sending to it and its other rows wait (``retry_after``,
    when it said how long) without spending their attempts."""


class RemoteRejected(RemoteError):
    """The remote refused the call (4xx, SOAP Fault, 1C business error): fix the data."""


class RemoteStoredOtherwise(RemoteRejected):
    """The remote took a write without an error but stored some values otherwise than sent
    (1C cuts a string to its attribute's length, rounds a number): the write is not
    recorded as sent, it is parked with what was stored.

    ``remote_id``, ``version``: the record written and the version the write produced
    (None when unknown or not ours alone), so the next import knows the write as its own
    and does not send the same values again and again. ``fields``: the remote fields
    stored otherwise; the others of the write were stored as sent.
    """

    def __init__(self, message: str, *, remote_id: str, version: str | None, fields: Sequence[str]) -> None:
        super().__init__(message)
        self.remote_id, self.version, self.fields = remote_id, version, tuple(fields)


class RecordSkipped(BridgeError):
    """One record cannot be processed; the batch goes on.

    ``remote_fix``: an edit of the record in the CRM can clear it (a value the model
    refuses); False when it cannot (its local record is gone).
    """

    def __init__(self, message: str, *, remote_fix: bool = True) -> None:
        super().__init__(message)
        self.remote_fix = remote_fix


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest of `known`, or an empty string."""
    guess = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" Did you mean {guess[0]!r}?" if guess else ""
