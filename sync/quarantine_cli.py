"""``crm-bridge quarantine list/show/retry``: the records set aside, why, and another try."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Column, Table

from sync.stages import STAGES

if TYPE_CHECKING:  # imported where used: `crm-bridge quarantine --help` loads no SQLAlchemy, no store
    from sqlalchemy.orm import Session

    from sync.quarantine import QuarantineRow

__all__ = ["counts", "quarantine_app", "retry"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
quarantine_app = typer.Typer(
    help="Remote records set aside (unreadable, unconvertible, unstorable, unaddressable), with the reason and "
         "the raw value; the rest of the import and write-back went on.\n\nExample: crm-bridge quarantine list",
    no_args_is_help=True)


def counts(session: Session, backend: str) -> dict[str, int]:
    """Records a backend has set aside (``held``) and stored repaired (``notes``)."""
    from sqlalchemy import func, select

    from sync.quarantine import QuarantineRow

    rows = dict(session.execute(select(QuarantineRow.imported, func.count()).where(QuarantineRow.backend == backend)
                                .group_by(QuarantineRow.imported)).all())
    return {"held": rows.get(False, 0), "notes": rows.get(True, 0)}


def _numbers(session: Session, rows: list[QuarantineRow]) -> list[str | None]:
    """The CRM's number of each record set aside, as people know it: from its local record
    when it was stored before, else from the raw value 1C sent (None when neither says)."""
    from sqlalchemy import select

    from crm_bridge.store.numbers import record_names
    from sync.quarantine import number_in
    from sync.tables import BindingRow

    bound = {(b.backend, b.model, b.remote_id): b.local_id for b in session.scalars(select(BindingRow).where(
        BindingRow.remote_id.in_({r.remote_id for r in rows})))} if rows else {}
    ids: dict[str, set[int]] = {}
    for (_, model, _), local_id in bound.items():
        ids.setdefault(model, set()).add(local_id)
    names = {model: record_names(session, model, wanted) for model, wanted in ids.items()}
    found: list[str | None] = []
    for r in rows:
        known = bound.get((r.backend, r.model, r.remote_id))
        if known is not None and not names[r.model][known].startswith("#"):
            found.append(names[r.model][known])
            continue
        found.append(number_in(r.raw))
    return found


def _as_dict(row: QuarantineRow, *, raw: bool = False) -> dict[str, Any]:
    data = {"id": row.id, "backend": row.backend, "model": row.model, "remote_id": row.remote_id, "stage": row.stage,
            "imported": row.imported, "reason": row.reason, "first_seen": row.first_seen, "last_seen": row.last_seen,
            "count": row.count}
    return data | {"raw": row.raw} if raw else data


def _open() -> Any:
    from crm_bridge.cli.common import open_app

    return open_app()


@quarantine_app.command("list")
def quarantine_list(
    backend: Annotated[str | None, typer.Option("--backend", help="Only this backend.")] = None,
    stage: Annotated[str | None, typer.Option("--stage", help=f"Only this stage: {', '.join(STAGES)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOpt = False,  # noqa: FBT002 - a typer flag
) -> None:
    """Records set aside (and records stored repaired, marked as notes), newest first.

    Example: crm-bridge quarantine list --stage read --json
    """
    from sqlalchemy import select

    from crm_bridge.cli.common import console, emit_json
    from crm_bridge.store.numbers import NOUNS
    from sync.quarantine import QuarantineRow

    if stage is not None and stage not in STAGES:
        console.print(f"[red]--stage {stage!r}: valid stages are {', '.join(STAGES)}[/red]")
        raise typer.Exit(2)
    bridge = _open()
    try:
        with bridge.store.transaction() as s:
            query = select(QuarantineRow).order_by(QuarantineRow.last_seen.desc(), QuarantineRow.id.desc()).limit(limit)
            if backend is not None:
                query = query.where(QuarantineRow.backend == backend)
            if stage is not None:
                query = query.where(QuarantineRow.stage == stage)
            found = list(s.scalars(query))
            rows = [_as_dict(r) for r in found]
            for r, row in zip(rows, _numbers(s, found), strict=True):
                r["number"] = row
        zone = ZoneInfo(bridge.config.timezone)
    finally:
        bridge.close()
    if as_json:
        emit_json(rows)
        return
    table = Table("id", Column("record", min_width=19, overflow="fold"), "stage", "seen",
                  Column("reason", overflow="fold"), title="Quarantine")
    for r in rows:  # 80 columns: the backend under the record, times in the configured zone
        name = f"{NOUNS.get(r['model'], r['model'])} {r['number']}\n" if r["number"] else f"{r['model']} "
        seen = f"{r['count']}×, last {r['last_seen'].astimezone(zone):%Y-%m-%d %H:%M}"
        table.add_row(str(r["id"]), escape(f"{name}{r['remote_id']}") + f"\n[dim]{escape(r['backend'])}[/dim]",
                      r["stage"] + (" (note: imported)" if r["imported"] else ""), seen, escape(r["reason"]))
    console.print(table if rows else "the quarantine is empty")


@quarantine_app.command("show")
def quarantine_show(entry: Annotated[int, typer.Argument(help="Quarantine id (from `quarantine list`).")],
                    as_json: JsonOpt = False) -> None:  # noqa: FBT002 - a typer flag
    """One record set aside: the reason and the raw value as the CRM sent it.

    Example: crm-bridge quarantine show 3
    """
    from crm_bridge.cli.common import console, emit_json
    from sync.quarantine import QuarantineRow

    bridge = _open()
    try:
        with bridge.store.transaction() as s:
            row = s.get(QuarantineRow, entry)
            data = None if row is None else _as_dict(row, raw=True)
    finally:
        bridge.close()
    if data is None:
        console.print(f"[red]no quarantine entry {entry}; see `crm-bridge quarantine list`[/red]")
        raise typer.Exit(1)
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        console.print(f"[bold]{key}[/bold]: {escape(str(value))}", highlight=False, soft_wrap=True)


@quarantine_app.command("retry")
def quarantine_retry(
    entries: Annotated[list[int] | None, typer.Argument(help="Quarantine ids.")] = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Retry every entry.")] = False,  # noqa: FBT002
    as_json: JsonOpt = False,  # noqa: FBT002 - a typer flag
) -> None:
    """Read the records from the CRM again now and import them; those that pass leave the
    quarantine. A write-stage entry puts its parked outbox rows back for the next dispatch.

    Example: crm-bridge quarantine retry 3 4   (or: crm-bridge quarantine retry --all)
    """
    from crm_bridge.cli.common import console, emit_json

    if not entries and not all_entries:
        console.print("[red]name the entries to retry (ids from `crm-bridge quarantine list`) or give --all[/red]")
        raise typer.Exit(2)
    bridge = _open()
    try:
        result = retry(bridge, None if all_entries else entries or [])
    finally:
        bridge.close()
    if as_json:
        emit_json(result)
        return
    console.print(f"{len(result['cleared'])} cleared, {len(result['held'])} still set aside"
                  + (f" (see `crm-bridge quarantine show {result['held'][0]}`)" if result["held"] else "")
                  + (f", {len(result['requeued'])} write(s) back in the outbox" if result["requeued"] else ""))


def retry(app: Any, entries: list[int] | None) -> dict[str, list[int]]:
    """Read the quarantined records of `entries` (None: all) from their CRM again and import
    them; write-stage entries put their parked rows back in the outbox. Returns the entry
    ids ``cleared``, still ``held``, and ``requeued``."""
    from sqlalchemy import delete, select

    from sync.engine import mappings_for
    from sync.importer import Importer
    from sync.quarantine import QuarantineRow
    from sync.stages import IMPORT_STAGES

    now = app.clock()
    result: dict[str, list[int]] = {"cleared": [], "held": [], "requeued": []}
    with app.store.transaction() as s:
        query = select(QuarantineRow) if entries is None else select(QuarantineRow).where(QuarantineRow.id.in_(entries))
        wanted = [(r.id, r.backend, r.model, r.remote_id, r.stage) for r in s.scalars(query)]
    by_record: dict[tuple[str, str], list[str]] = {}
    for entry, backend, model, remote_id, stage in wanted:
        if stage == "write":
            with app.store.transaction() as s:
                _requeue(s, backend, model, remote_id, now)
                s.execute(delete(QuarantineRow).where(QuarantineRow.id == entry))
            result["requeued"].append(entry)
        elif stage in IMPORT_STAGES:
            by_record.setdefault((backend, model), []).append(remote_id)
    for (backend, model), remote_ids in by_record.items():
        remote = app.backend(backend)
        importer = Importer(app.store, app.bus, app.config, remote, mappings_for(remote, [model]), now)
        importer.refresh(model, sorted(set(remote_ids)))
    with app.store.transaction() as s:
        left = set(s.scalars(select(QuarantineRow.id).where(QuarantineRow.id.in_([w[0] for w in wanted]))))
    for entry, *_ in wanted:
        if entry not in result["requeued"]:
            result["held" if entry in left else "cleared"].append(entry)
    return result


def _requeue(session: Session, backend: str, model: str, remote_id: str, now: Any) -> None:
    from sqlalchemy import select, update

    from sync.tables import BindingRow, OutboxRow

    binding = session.scalar(select(BindingRow).where(BindingRow.backend == backend, BindingRow.model == model,
                                                      BindingRow.remote_id == remote_id))
    if binding is not None:
        session.execute(update(OutboxRow).where(
            OutboxRow.backend == backend, OutboxRow.model == model, OutboxRow.local_id == binding.local_id,
            OutboxRow.state == "parked").values(state="pending", next_attempt_at=now, attempts=0))
