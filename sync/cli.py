"""Operator commands of the sync addon: conflicts, jobs (the outbox). ``status`` is the
core's; sync contributes its section (``sync.status``)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Column, Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app

# SQLAlchemy and the store are imported where used: `crm-bridge conflicts --help` and `jobs --help` load neither
__all__ = ["conflicts_app", "jobs_app"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
conflicts_app = typer.Typer(help="Fields changed on both sides, waiting for a decision.\n\nExample: crm-bridge conflicts list", no_args_is_help=True)
jobs_app = typer.Typer(help="Remote writes waiting in the outbox, retried or parked.\n\nExample: crm-bridge jobs list --state parked", no_args_is_help=True)


@conflicts_app.command("list")
def conflicts_list(
    all_states: Annotated[bool, typer.Option("--all", help="Include resolved conflicts.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Open conflicts, oldest first.

    Example: crm-bridge conflicts list --json
    """
    from sync.queues import open_conflicts

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            rows = open_conflicts(s, all_states=all_states)
    finally:
        bridge.close()
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "field", "base", "crm-bridge", "CRM", "state", title="Conflicts")
    table.columns.insert(1, Column("record", no_wrap=True))  # a number is never cut in two
    for r in rows:  # 80 columns: the backend goes under the record
        table.add_row(str(r["id"]), f"{r['record']}\n[dim]{r['backend']}[/dim]", r["field"], escape(str(r["base"])),
                      escape(str(r["local"])), escape(str(r["remote"])),
                      r["state"] if not r["resolution"] else f"took {r['resolution']}")
    console.print(table if rows else "no open conflicts")


@conflicts_app.command("show")
def conflicts_show(conflict_id: Annotated[int, typer.Argument(help="Conflict id.")], as_json: JsonOpt = False) -> None:
    """One conflict with the three values.

    Example: crm-bridge conflicts show 12
    """
    from sync.queues import add_numbers, conflict_dict
    from sync.tables import ConflictRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            row = s.get(ConflictRow, conflict_id)
            if row is None:
                console.print(f"[red]no conflict {conflict_id}[/red]")
                raise typer.Exit(1)
            data = conflict_dict(row)
            add_numbers(s, [data])
    finally:
        bridge.close()
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            console.print(f"[bold]{key}[/bold]: {value}")


@conflicts_app.command("resolve")
def conflicts_resolve(
    conflict_id: Annotated[int, typer.Argument(help="Conflict id.")],
    take: Annotated[str, typer.Option("--take", help="local: send crm-bridge's value to the CRM; remote: keep the CRM's value.")],
    as_json: JsonOpt = False,
) -> None:
    """Settle a conflict by taking one side.

    Example: crm-bridge conflicts resolve 12 --take remote
    """
    from sync.queues import resolve_conflict

    if take not in ("local", "remote"):
        console.print("[red]--take must be 'local' or 'remote'[/red]")
        raise typer.Exit(2)
    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            result = resolve_conflict(bridge, s, conflict_id, "local" if take == "local" else "remote",
                                      bridge.clock(), by="cli")
    finally:
        bridge.close()
    if result is None:
        console.print(f"[red]no open conflict {conflict_id}[/red]")
        raise typer.Exit(1)
    emit_json(result) if as_json else console.print(
        f"conflict {conflict_id}: {result['record']}: took the {take} value of {result['field']}")


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str, typer.Option("--state", help="pending, parked, sent, withdrawn, cancelled or all.")] = "parked",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Outbox rows in a state (default: parked — the dead letters, with their reasons).

    A pending row held while an addon's decision on its record is queued (``sync.hold``: a
    new request waits for its SLA plan) shows as held, with why and until when at the
    latest; in --json, ``held`` is ``{"why", "until"}`` (null for a row not held).

    Example: crm-bridge jobs list --state pending
    """
    from sync.hold import held_rows
    from sync.queues import parked_rows

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            rows = parked_rows(s, state, limit)
            held = held_rows(s, bridge.registry, [r["id"] for r in rows if r["state"] == "pending"], bridge.clock())
        zone = ZoneInfo(bridge.config.timezone)  # times for people in the configured zone
    finally:
        bridge.close()
    for r in rows:
        hold = held.get(r["id"])
        r["held"] = {"why": hold.why, "until": hold.until} if hold else None
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "fields", "state", "reason", title=f"Outbox ({state})")
    table.columns.insert(1, Column("record", no_wrap=True))  # a number is never cut in two
    for r in rows:  # 80 columns: the backend and the next attempt go under the record and the state
        when = r["next_attempt_at"] and r["next_attempt_at"].astimezone(zone)
        tries = f"{r['attempts']} tr{'y' if r['attempts'] == 1 else 'ies'}"
        if r["held"]:
            state_text = f"held, {tries}\n[dim]until {r['held']['until'].astimezone(zone):%Y-%m-%d %H:%M} at most[/dim]"
            reason = "; ".join(filter(None, [r["held"]["why"], r["last_error"]]))
        else:
            state_text = f"{r['state']}, {tries}" + (
                f"\n[dim]next {when:%Y-%m-%d %H:%M}[/dim]" if r["state"] == "pending" and when else "")
            reason = r["last_error"] or ""
        table.add_row(str(r["id"]), f"{r['record']}\n[dim]{r['backend']}[/dim]", ", ".join(r["fields"]), state_text,
                      escape(reason))
    console.print(table if rows else f"no {state} rows")


def _set_state(job_ids: list[int], *, retry: bool, all_parked: bool) -> tuple[list[int], list[str]]:
    """Rows set pending (`retry`) or cancelled, and what was refused (``sync.queues.set_state``)."""
    from sync.queues import set_state

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            return set_state(s, job_ids, bridge.clock(), retry=retry, all_parked=all_parked, by="cli")
    finally:
        bridge.close()


def _say_refused(refused: list[str]) -> None:
    for line in refused:
        console_err.print(f"[yellow]{line}[/yellow]", soft_wrap=True, highlight=False)


@jobs_app.command("retry")
def jobs_retry(
    job_ids: Annotated[list[int] | None, typer.Argument(help="Outbox row ids.")] = None,
    all_parked: Annotated[bool, typer.Option("--all-parked", help="Retry every parked row.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send parked (or back-off waiting) rows again at the next dispatch.

    Example: crm-bridge jobs retry --all-parked
    """
    if not job_ids and not all_parked:
        console_err.print("name the outbox rows to retry (crm-bridge jobs list shows them), or --all-parked")
        raise typer.Exit(1)
    changed, refused = _set_state(job_ids or [], retry=True, all_parked=all_parked)
    _say_refused(refused)
    emit_json({"retried": changed, "refused": refused}) if as_json else console.print(f"{len(changed)} row(s) will be sent at the next dispatch")
    if refused and not changed:
        raise typer.Exit(1)


@jobs_app.command("cancel")
def jobs_cancel(
    job_ids: Annotated[list[int], typer.Argument(help="Outbox row ids.")],
    as_json: JsonOpt = False,
) -> None:
    """Never send these rows (they stay in the outbox as cancelled, for the record).

    Example: crm-bridge jobs cancel 41 42
    """
    changed, refused = _set_state(job_ids, retry=False, all_parked=False)
    _say_refused(refused)
    emit_json({"cancelled": changed, "refused": refused}) if as_json else console.print(f"{len(changed)} row(s) cancelled")
    if refused and not changed:
        raise typer.Exit(1)
