"""The ``crm-bridge`` command: core commands plus those the addons register.

An addon adds commands with ``registry.add(typer_app, usage="cli.group", name="onec")``
(a sub-command group) or ``registry.add(fn, usage="cli.command", name="demo")``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from crm_bridge.cli.common import console_err, state
from crm_bridge.cli.core import app as core_app
from crm_bridge.cli.lazy import AddonGroup
from crm_bridge.errors import BridgeError, ConfigError, RemoteError, UsageError
from crm_bridge.interactive import interactive, set_interactive

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

__all__ = ["build", "main"]


def build() -> typer.Typer:
    """The full command tree: core commands and every loaded addon's commands (these are
    imported when run, see ``crm_bridge.cli.lazy``). Built once per process: a second call
    returns the same tree."""
    from crm_bridge.addons import load_addons
    from crm_bridge.registry import Registry

    if state.registry is not None:
        return core_app
    registry = Registry()
    state.registry, state.addons = registry, load_addons(registry)
    AddonGroup.registry = registry
    return core_app


def _store_problem(exc: DBAPIError) -> str:
    """What a driver error met by a command says, in one line, and what to run."""
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return f"{text}: the store has no schema yet; run crm-bridge db upgrade"
    if "no such column" in text or ("column" in text and "does not exist" in text):
        return f"{text}: the store's schema is older than this crm-bridge; run crm-bridge db upgrade"
    return f"{text}; check store.url in {state.config} (crm-bridge check says more)"


def main(argv: list[str] | None = None) -> None:
    """Run the command line `argv` (default: the process's own) and exit with its code.

    Every error crm-bridge raises on purpose ends as one line on stderr and an exit code:
    2 for a configuration or usage mistake, 3 for a remote's fault, 1 for the rest.
    Given `argv`, the caller embeds the command (tests): the process's collector is left as
    it is, and so is whether a person waits (``crm_bridge.interactive``): a command run in
    a test process does not leave the next test's 1C calls with a person's short timeouts.
    """
    state.embedded = argv is not None
    if state.embedded:
        waiting = interactive()
        try:
            _main(argv)
        finally:
            set_interactive(waiting)
    else:
        _main(argv)


def _main(argv: list[str] | None) -> None:
    try:
        command = build()
        command(args=argv, standalone_mode=True)
    except ConfigError as exc:  # soft_wrap: one problem stays one line, whatever the terminal's width
        console_err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except UsageError as exc:
        console_err.print(f"[red]usage error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except RemoteError as exc:
        console_err.print(f"[red]remote error:[/red] {escape(exc.once)}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except BridgeError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console_err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        store = sys.modules.get("sqlalchemy.exc")  # not loaded: the error cannot be the store's
        if store is None or not isinstance(exc, store.OperationalError | store.ProgrammingError):
            raise
        # the store: not set up, or not reachable
        console_err.print(f"[red]store error:[/red] {_store_problem(exc)}", highlight=False)
        sys.exit(1)
