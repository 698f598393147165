"""Starting the emulator from a command line: options as text → :class:`Emulator` → serve.

``python -m adapters.onec.emulator`` and ``crm-bridge emulator`` take the same options;
both parse them here (one parser, one set of error messages) and serve until Ctrl-C or
SIGTERM. A parent process that asked for port 0 learns the port from ``on_ready``
(``python -m adapters.onec.emulator`` prints the base URL as its first line)::

    emu = emulator_from_text(port=0, requests=2000, users=["Администратор:demo"],
                             faults=['{"kind": "status", "status": 503, "count": 2}'],
                             now="2026-03-02T12:00:00")
    serve(emu, on_ready=lambda e: print(e.base_url, flush=True))   # blocks
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .emulator import Emulator
from .errors import ODataError
from .faults import Fault, fault_from_json

__all__ = ["emulator_from_text", "parse_fault", "parse_now", "parse_user", "serve"]


def emulator_from_text(*, users: Sequence[str] = (), faults: Sequence[str] = (),
                       now: str | None = None, **options: Any) -> Emulator:
    """An :class:`Emulator` from command-line text; other keywords go to it unchanged.

    Args:
        users: ``LOGIN:PASSWORD`` each (none: ``Администратор``/``demo``).
        faults: one fault as JSON each (see README, *Faults*).
        now: the base's clock as ISO date and time; naive means Moscow wall time.

    Raises:
        ValueError: the option, what it got and what is valid.
    """
    parsed_users = dict(parse_user(text) for text in users) or None
    parsed_faults = [parse_fault(text) for text in faults]
    moment = None if now is None else parse_now(now)
    try:
        return Emulator(users=parsed_users, faults=parsed_faults, now=moment, **options)
    except ODataError as exc:  # only an unknown set in ``unpublished`` gets here
        raise ValueError(f"--unpublish: {exc.message}; give entity-set names such as "
                         "Catalog_Контрагенты") from exc


def parse_fault(text: str) -> Fault:
    """One fault as a JSON object, e.g. ``{"kind": "status", "status": 503, "count": 2}``."""
    example = '{"kind": "status", "status": 503, "method": "PATCH", "count": 2}'
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--fault {text!r}: not JSON ({exc}); e.g. '{example}'") from exc
    if not isinstance(document, dict):
        raise ValueError(f"--fault {text!r}: expected a JSON object, e.g. '{example}'")  # noqa: TRY004 (bad input text)
    try:
        return fault_from_json(document)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--fault {text!r}: {exc}") from exc


def parse_user(text: str) -> tuple[str, str]:
    """``LOGIN:PASSWORD`` → (login, password); the password may contain ``:``."""
    login, sep, password = text.partition(":")
    if not sep or not login:
        raise ValueError(f"--user {text!r}: expected LOGIN:PASSWORD, e.g. Администратор:demo")
    return login, password


def parse_now(text: str) -> datetime:
    """ISO date and time → datetime (naive: Moscow wall time, as the base keeps it)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--now {text!r}: expected an ISO date and time, e.g. "
                         "2026-03-02T12:00:00 (Moscow time) or 2026-03-02T09:00:00+00:00") from exc


def serve(emu: Emulator, on_ready: Callable[[Emulator], None] | None = None) -> None:
    """Listen, call ``on_ready(emu)``, serve until Ctrl-C or SIGTERM, then stop cleanly.

    Call it from the main thread (it installs the signal handlers, and restores the
    previous ones on the way out).
    """
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda _sig, _frame: stopping.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        emu.start()
        if on_ready is not None:
            on_ready(emu)
        while not stopping.wait(0.5):
            pass
    finally:
        emu.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
