"""Operator commands of the sync addon: conflicts, jobs (the outbox). ``status`` is the
core's; sync contributes its section (``sync.status``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Column, Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app

if TYPE_CHECKING:  # imported where used: `crm-bridge conflicts --help` and `jobs --help` load no SQLAlchemy, no store
    from sqlalchemy.orm import Session

    from sync.tables import ConflictRow, OutboxRow

__all__ = ["conflicts_app", "jobs_app"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
conflicts_app = typer.Typer(help="Fields changed on both sides, waiting for a decision.\n\nExample: crm-bridge conflicts list", no_args_is_help=True)
jobs_app = typer.Typer(help="Remote writes waiting in the outbox, retried or parked.\n\nExample: crm-bridge jobs list --state parked", no_args_is_help=True)


def _add_numbers(s: Session, rows: list[dict[str, Any]]) -> None:
    """Give each row the CRM's number of its record (``number``) and how people name it
    (``record``: ``request CRM-0000295``); the local and remote ids stay beside them."""
    from crm_bridge.store.numbers import NOUNS, record_names

    by_model: dict[str, set[int]] = {}
    for r in rows:
        by_model.setdefault(r["model"], set()).add(r["local_id"])
    names = {model: record_names(s, model, ids) for model, ids in by_model.items()}
    for r in rows:
        r["number"] = names[r["model"]][r["local_id"]]
        r["record"] = f"{NOUNS.get(r['model'], r['model'])} {r['number']}"


def _conflict_dict(c: ConflictRow) -> dict[str, Any]:
    return {"id": c.id, "backend": c.backend, "model": c.model, "local_id": c.local_id, "remote_id": c.remote_id,
            "field": c.field, "base": c.base["value"], "local": c.local["value"], "remote": c.remote["value"],
            "state": c.state, "resolution": c.resolution, "created": c.created, "resolved_at": c.resolved_at}


@conflicts_app.command("list")
def conflicts_list(
    all_states: Annotated[bool, typer.Option("--all", help="Include resolved conflicts.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Open conflicts, oldest first.

    Example: crm-bridge conflicts list --json
    """
    from sqlalchemy import select

    from sync.tables import ConflictRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            query = select(ConflictRow).order_by(ConflictRow.id)
            if not all_states:
                query = query.where(ConflictRow.state == "open")
            found = list(s.scalars(query))
            rows = [_conflict_dict(c) for c in found]
            _add_numbers(s, rows)
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
    from sync.tables import ConflictRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            row = s.get(ConflictRow, conflict_id)
            if row is None:
                console.print(f"[red]no conflict {conflict_id}[/red]")
                raise typer.Exit(1)
            data = _conflict_dict(row)
            _add_numbers(s, [data])
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
    from sqlalchemy import select

    from crm_bridge.events import DomainEvent
    from crm_bridge.model import fields_from_json
    from crm_bridge.store.records import update_record
    from sync.tables import BindingRow, ConflictRow

    if take not in ("local", "remote"):
        console.print("[red]--take must be 'local' or 'remote'[/red]")
        raise typer.Exit(2)
    bridge = open_app()
    now = bridge.clock()
    try:
        with bridge.store.transaction() as s:
            row = s.get(ConflictRow, conflict_id)
            if row is None or row.state != "open":
                console.print(f"[red]no open conflict {conflict_id}[/red]")
                raise typer.Exit(1)
            value = fields_from_json(row.model, {row.field: (row.local if take == "local" else row.remote)["value"]})
            unit = bridge.bus.unit(s, now, bridge.config)
            if take == "remote":
                update_record(s, row.model, row.local_id, value)
                binding = s.scalar(select(BindingRow).where(BindingRow.backend == row.backend, BindingRow.model == row.model,
                                                            BindingRow.local_id == row.local_id))
                if binding is not None:
                    binding.base = {**(binding.base or {}), row.field: row.remote["value"]}
            else:
                unit.publish(DomainEvent("record.changed", row.model, row.local_id, "conflicts.resolve", {"fields": value}))
            row.state, row.resolution, row.resolved_at = "resolved", take, now
            result = _conflict_dict(row)
            _add_numbers(s, [result])
    finally:
        bridge.close()
    emit_json(result) if as_json else console.print(
        f"conflict {conflict_id}: {result['record']}: took the {take} value of {result['field']}")


def _job_dict(r: OutboxRow) -> dict[str, Any]:
    return {"id": r.id, "backend": r.backend, "model": r.model, "local_id": r.local_id, "fields": r.fields,
            "state": r.state, "attempts": r.attempts, "last_error": r.last_error, "created": r.created,
            "next_attempt_at": r.next_attempt_at, "sent_at": r.sent_at, "origin": r.origin}


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str, typer.Option("--state", help="pending, parked, sent, withdrawn, cancelled or all.")] = "parked",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Outbox rows in a state (default: parked — the dead letters, with their reasons).

    Example: crm-bridge jobs list --state pending
    """
    from sqlalchemy import select

    from sync.tables import OutboxRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
            if state != "all":
                query = query.where(OutboxRow.state == state)
            rows = [_job_dict(r) for r in s.scalars(query)]
            _add_numbers(s, rows)
        zone = ZoneInfo(bridge.config.timezone)  # times for people in the configured zone
    finally:
        bridge.close()
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "fields", "state", "reason", title=f"Outbox ({state})")
    table.columns.insert(1, Column("record", no_wrap=True))  # a number is never cut in two
    for r in rows:  # 80 columns: the backend and the next attempt go under the record and the state
        when = r["next_attempt_at"] and r["next_attempt_at"].astimezone(zone)
        table.add_row(str(r["id"]), f"{r['record']}\n[dim]{r['backend']}[/dim]", ", ".join(r["fields"]),
                      f"{r['state']}, {r['attempts']} tr{'y' if r['attempts'] == 1 else 'ies'}"
                      + (f"\n[dim]next {when:%Y-%m-%d %H:%M}[/dim]" if r["state"] == "pending" and when else ""),
                      escape(r["last_error"] or ""))
    console.print(table if rows else f"no {state} rows")


def _set_state(job_ids: list[int], *, retry: bool, all_parked: bool) -> tuple[list[int], list[str]]:
    """Rows set pending (`retry`) or cancelled, and what was refused, one line each.

    An id that names no outbox row changes nothing at all: a mistyped id in a list is
    said, and the command is run again with the ids meant, rather than half applied.
    """
    from sqlalchemy import select

    from sync.tables import OutboxRow

    bridge = open_app()
    now = bridge.clock()
    changed: list[int] = []
    refused: list[str] = []
    try:
        with bridge.store.transaction() as s:
            query = select(OutboxRow).where(OutboxRow.state == "parked") if all_parked else select(OutboxRow).where(OutboxRow.id.in_(job_ids))
            rows = list(s.scalars(query))
            unknown = sorted(set(job_ids) - {row.id for row in rows})
            if unknown:
                listed = ", ".join(str(i) for i in unknown)
                return [], [f"no outbox row {listed}; nothing was changed (crm-bridge jobs list shows the rows)"]
            for row in rows:
                if row.state in ("pending", "parked"):
                    if retry:
                        row.state, row.next_attempt_at, row.attempts = "pending", now, 0
                    else:
                        row.state = "cancelled"
                    changed.append(row.id)
                else:
                    refused.append(f"row {row.id} is {row.state}, not pending or parked: left as it is")
    finally:
        bridge.close()
    return changed, refused


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
