"""Whether a person waits at a terminal for this process's answers.

``crm-bridge check``, ``onec inspect``, ``mapping preview`` and the other commands are
asked by a person: a 1C that accepts the connection and never answers must be said within
seconds ("connected, but 1C did not answer in 10 s"), not after the minutes an unattended
``run`` rightly gives a cold base (a 1C session spin-up can take half a minute, and a
worker retries in place). The CLI marks the process interactive for every command but
``run``, ``worker`` and ``demo``; adapters cap their waits with ``capped`` and do not
retry a silent server in place (``retry_silence``). Library callers (tests, jobs) are
unattended unless they say otherwise.
"""

from __future__ import annotations

__all__ = ["INTERACTIVE_CONNECT", "INTERACTIVE_READ", "INTERACTIVE_TOTAL", "capped", "interactive", "set_interactive"]

#: seconds a person waits at most for a connection, for the first bytes, for a whole answer
INTERACTIVE_CONNECT = 5.0
INTERACTIVE_READ = 10.0
INTERACTIVE_TOTAL = 60.0

_state = {"on": False}


def set_interactive(on: bool) -> None:  # noqa: FBT001 - one flag, named by the function
    """Mark the process as serving a person (True) or running unattended (False)."""
    _state["on"] = on


def interactive() -> bool:
    """True when a person waits for the answers (``set_interactive``)."""
    return _state["on"]


def capped(connect: float, read: float, total: float) -> tuple[float, float, float]:
    """The configured timeouts, shortened to a person's patience when ``interactive``
    (never lengthened: a configuration asking for less keeps it)."""
    if not interactive():
        return connect, read, total
    return min(connect, INTERACTIVE_CONNECT), min(read, INTERACTIVE_READ), min(total, INTERACTIVE_TOTAL)
