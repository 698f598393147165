"""Operator commands of the sync addon: status, conflicts, jobs (the outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.events import DomainEvent
from crm_bridge.model import fields_from_json
from crm_bridge.store.records import update_record
from sync.quarantine_cli import counts as quarantine_counts
from sync.tables import BindingRow, CheckpointRow, ConflictRow, OutboxRow, SyncRunRow

__all__ = ["conflicts_app", "jobs_app", "status"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
conflicts_app = typer.Typer(help="Fields changed on both sides, waiting for a decision.\n\nExample: crm-bridge conflicts list", no_args_is_help=True)
jobs_app = typer.Typer(help="Remote writes waiting in the outbox, retried or parked.\n\nExample: crm-bridge jobs list --state parked", no_args_is_help=True)


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago" if seconds < 7200 else f"{seconds // 3600}h ago"


def status(as_json: JsonOpt = False) -> None:
    """Backends, last runs, lag, queue depth, conflicts and failures.

    Example: crm-bridge -c crm-bridge.yaml status --json
    """
    bridge = open_app()
    now = bridge.clock()
    report: list[dict[str, Any]] = []
    try:
        with bridge.store.transaction() as s:
            for name in bridge.config.backends:
                last: dict[str, Any] = {}
                for kind in ("import", "export"):
                    run = s.scalars(select(SyncRunRow).where(SyncRunRow.backend == name, SyncRunRow.kind == kind)
                                    .order_by(SyncRunRow.id.desc()).limit(1)).first()
                    ok = s.scalars(select(SyncRunRow.finished).where(SyncRunRow.backend == name, SyncRunRow.kind == kind,
                                                                    SyncRunRow.status == "ok").order_by(SyncRunRow.id.desc()).limit(1)).first()
                    last[kind] = None if run is None else {
                        "status": run.status, "started": run.started, "finished": run.finished, "read": run.read,
                        "created": run.created_count, "updated": run.updated_count, "skipped": run.skipped,
                        "failed": run.failed, "error": run.error,
                        "lag_seconds": None if ok is None else round((now - ok).total_seconds()),
                    }
                queue = dict(s.execute(select(OutboxRow.state, func.count()).where(OutboxRow.backend == name)
                                       .group_by(OutboxRow.state)).tuples().all())
                bound = dict(s.execute(select(BindingRow.model, func.count()).where(BindingRow.backend == name)
                                       .group_by(BindingRow.model)).tuples().all())
                open_conflicts = s.scalar(select(func.count()).select_from(ConflictRow).where(
                    ConflictRow.backend == name, ConflictRow.state == "open")) or 0
                streams = {c.stream: c.value for c in s.scalars(select(CheckpointRow).where(CheckpointRow.backend == name))}
                report.append({"backend": name, "import": last["import"], "export": last["export"],
                               "outbox": {"pending": queue.get("pending", 0), "parked": queue.get("parked", 0),
                                          "sent": queue.get("sent", 0)},
                               "bindings": bound, "conflicts": open_conflicts, "streams": streams,
                               "quarantine": quarantine_counts(s, name)})
    finally:
        bridge.close()
    if as_json:
        emit_json({"now": now, "backends": report})
        return
    table = Table("backend", "last import", "lag", "last export", "pending", "parked", "conflicts", "set aside", "bound",
                  title="crm-bridge status")
    for r in report:
        imp, exp = r["import"], r["export"]
        imp_text = "never" if imp is None else f"{imp['status']} {_ago(now, imp['finished'])}: {imp['read']} read, {imp['created']}+{imp['updated']} changed, {imp['failed']} failed"
        exp_text = "never" if exp is None else f"{exp['status']} {_ago(now, exp['finished'])}: {exp['updated']} sent"
        lag = "—" if imp is None or imp["lag_seconds"] is None else f"{imp['lag_seconds']}s"
        table.add_row(r["backend"], imp_text, lag, exp_text, str(r["outbox"]["pending"]),
                      f"[red]{r['outbox']['parked']}[/red]" if r["outbox"]["parked"] else "0",
                      f"[yellow]{r['conflicts']}[/yellow]" if r["conflicts"] else "0",
                      f"[red]{r['quarantine']['held']}[/red]" if r["quarantine"]["held"] else "0",
                      ", ".join(f"{k}: {v}" for k, v in sorted(r["bindings"].items())) or "—")
    console.print(table)
    for r in report:
        if r["quarantine"]["held"] or r["quarantine"]["notes"]:
            console.print(f"{r['backend']}: {r['quarantine']['held']} record(s) set aside, {r['quarantine']['notes']} stored "
                          "repaired — see `crm-bridge quarantine list`")
        for kind in ("import", "export"):
            if r[kind] and r[kind]["error"]:
                console.print(f"[red]{r['backend']} {kind}:[/red] {r[kind]['error']}")


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
    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            query = select(ConflictRow).order_by(ConflictRow.id)
            if not all_states:
                query = query.where(ConflictRow.state == "open")
            rows = [_conflict_dict(c) for c in s.scalars(query)]
    finally:
        bridge.close()
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "backend", "record", "field", "base", "local (crm-bridge)", "remote (CRM)", "state", title="Conflicts")
    for r in rows:
        table.add_row(str(r["id"]), r["backend"], f"{r['model']} {r['local_id']}", r["field"], str(r["base"]),
                      str(r["local"]), str(r["remote"]), r["state"] if not r["resolution"] else f"took {r['resolution']}")
    console.print(table if rows else "no open conflicts")


@conflicts_app.command("show")
def conflicts_show(conflict_id: Annotated[int, typer.Argument(help="Conflict id.")], as_json: JsonOpt = False) -> None:
    """One conflict with the three values.

    Example: crm-bridge conflicts show 12
    """
    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            row = s.get(ConflictRow, conflict_id)
            if row is None:
                console.print(f"[red]no conflict {conflict_id}[/red]")
                raise typer.Exit(1)
            data = _conflict_dict(row)
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
    finally:
        bridge.close()
    emit_json(result) if as_json else console.print(f"conflict {conflict_id}: took the {take} value of {result['field']}")


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
    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
            if state != "all":
                query = query.where(OutboxRow.state == state)
            rows = [_job_dict(r) for r in s.scalars(query)]
    finally:
        bridge.close()
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "backend", "record", "fields", "state", "attempts", "next attempt", "reason", title=f"Outbox ({state})")
    for r in rows:
        table.add_row(str(r["id"]), r["backend"], f"{r['model']} {r['local_id']}", ", ".join(r["fields"]), r["state"],
                      str(r["attempts"]), str(r["next_attempt_at"]), r["last_error"] or "")
    console.print(table if rows else f"no {state} rows")


def _set_state(job_ids: list[int], *, retry: bool, all_parked: bool) -> tuple[list[int], list[str]]:
    """Rows set pending (`retry`) or cancelled, and what was refused, one line each.

    An id that names no outbox row changes nothing at all: a mistyped id in a list is
    said, and the command is run again with the ids meant, rather than half applied.
    """
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
