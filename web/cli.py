"""``crm-bridge web``: serve the pages, hash a supervisor's password, print a customer link."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_bridge.cli.common import console, emit_json, open_app

__all__ = ["web_app"]

web_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)  # help: the callback's docstring


@web_app.callback()
def serve(ctx: typer.Context,
          host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: web.host).")] = None,
          port: Annotated[int | None, typer.Option("--port", help="Port (default: web.port; 0: any free one).",
                                                   min=0, max=65535)] = None) -> None:
    """Serve the dashboard, the customer cabinet, /healthz and /metrics until Ctrl-C.

    Example: crm-bridge -c crm-bridge.yaml web --host 0.0.0.0 --port 8080
    """
    if ctx.invoked_subcommand is not None:
        return
    from web.serve import WebServer

    bridge = open_app()
    try:
        config = bridge.config.section("web")
        server = WebServer(bridge, host or config.host, config.port if port is None else port)
        console.print(f"crm-bridge web at {server.url} (dashboard {server.url}/dashboard); Ctrl-C stops it",
                      highlight=False, soft_wrap=True)
        server.run()
    finally:
        bridge.close()


@web_app.command("hash-password")
def hash_password(
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="The password (asked for when not given).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print the Argon2id hash of a password for web.users.<login>.password_hash.

    Example: crm-bridge web hash-password   (asks twice, prints $argon2id$...)
    """
    from web.security import hash_password as make

    hashed = make(password)
    if as_json:
        emit_json({"password_hash": hashed})
    else:
        print(hashed)


@web_app.command("link")
def link(
    number: Annotated[str, typer.Argument(help="The CRM number of one of the customer's requests.")],
    only: Annotated[bool, typer.Option("--only", help="A link to this request only, not to all the contact's.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print a signed cabinet link for the contact of a request (what a mail would carry).

    Example: crm-bridge -c crm-bridge.yaml web link CRM-0000042
    """
    from sqlalchemy import select

    from crm_bridge.errors import UsageError
    from crm_bridge.links import link_url
    from crm_bridge.store.tables import TicketRow

    bridge = open_app()
    try:
        now = bridge.clock()
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == number, TicketRow.deleted.is_(False))).first()
        if ticket is None:
            raise UsageError(f"no request {number!r} in the store; see `crm-bridge sla list` for numbers")
        subject = f"request:{ticket.id}" if only or ticket.contact_id is None else f"contact:{ticket.contact_id}"
        config = bridge.config.section("links")
        url = link_url(config, "cabinet", subject, now)
    finally:
        bridge.close()
    if as_json:
        emit_json({"url": url, "subject": subject, "expires": now + config.ttl})
    else:
        print(url)
