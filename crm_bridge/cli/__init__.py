"""The ``crm-bridge`` command: core commands plus those the addons register.

An addon adds commands with ``registry.add(typer_app, usage="cli.group", name="onec")``
(a sub-command group) or ``registry.add(fn, usage="cli.command", name="demo")``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from crm_bridge.cli.common import console_err, state
from crm_bridge.cli.core import app as core_app
from crm_bridge.cli.lazy import AddonGroup
from crm_bridge.errors import BridgeError, ConfigError, RemoteError

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

__all__ = ["build", "main"]


def build() -> typer.Typer:
    """The full command tree: core commands and every loaded addon's commands (these are
    imported when run, see ``crm_bridge.cli.lazy``)."""
    from crm_bridge.addons import load_addons
    from crm_bridge.registry import Registry

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


def main() -> None:
    try:
        command = build()
        command(standalone_mode=True)
    except ConfigError as exc:
        console_err.print(f"[red]configuration error:[/red] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except RemoteError as exc:
        console_err.print(f"[red]remote error:[/red] {exc.once}", highlight=False)
        sys.exit(3)
    except BridgeError as exc:
        console_err.print(f"[red]error:[/red] {exc}", highlight=False)
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
