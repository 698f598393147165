"""``crm-bridge sync allow-deletes``: an operator confirms deletions the mass-delete guard
held (``sync.deletes``), once; the next pass applies them."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["sync_app"]

sync_app = typer.Typer(help="Sync operations that need a person's word.\n\n"
                            "Example: crm-bridge sync allow-deletes --backend demo-1c --model ticket",
                       no_args_is_help=True)


@sync_app.command("allow-deletes")
def allow_deletes(
    backend: Annotated[str, typer.Option("--backend", help="The backend whose deletions were held.")],
    model: Annotated[str, typer.Option("--model", help="The model whose deletions were held (ticket, customer…).")],
    count: Annotated[int | None, typer.Option("--count", min=1,
                                              help="At most this many deletions (default: all that are held).")] = None,
) -> None:
    """Allow the deletions held as over max_delete_share, once: the next pass applies them.

    Example: crm-bridge sync allow-deletes --backend demo-1c --model ticket --count 384
    """
    from crm_bridge.cli.common import console, open_app
    from sync.deletes import allow

    bridge = open_app()
    try:
        backends = bridge.config.backends
        if backend not in backends:
            console.print(f"[red]--backend {backend!r}: no such backend; defined: {', '.join(backends)}[/red]")
            raise typer.Exit(2)
        if model not in backends[backend].models:
            console.print(f"[red]--model {model!r}: backend {backend!r} maps {', '.join(backends[backend].models)}[/red]")
            raise typer.Exit(2)
        with bridge.store.transaction() as s:
            allow(s, backend, model, count, bridge.clock())
    finally:
        bridge.close()
    what = "all held deletions" if count is None else f"up to {count} deletions"
    console.print(f"{backend}: {what} of {model} will be applied by the next pass (once)")
