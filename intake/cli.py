"""``crm-bridge intake``: who wrote (the review queue), why a message became what it did,
the inbox's log, and the receivers. People see the CRM's numbers and customers' names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app

if TYPE_CHECKING:  # imported where used: `crm-bridge intake --help` loads no SQLAlchemy
    from sqlalchemy.orm import Session

    from intake.tables import InboxRow

__all__ = ["intake_app"]

intake_app = typer.Typer(help="Inbound mail: review who wrote, explain a decision, the log.\n\n"
                              "Example: crm-bridge intake explain CRM-0000042", no_args_is_help=True)
review_app = typer.Typer(help="Messages whose sender matches several customers: a person decides, never a guess.\n\n"
                              "Example: crm-bridge intake review assign 17 7707083893", invoke_without_command=True)
intake_app.add_typer(review_app, name="review")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    from crm_bridge.store.numbers import record_names

    return record_names(session, "customer", [i for i in ids if i is not None])


def _review_rows(session: Session) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from intake.tables import InboxRow

    rows = list(session.scalars(select(InboxRow).where(InboxRow.state == "review").order_by(InboxRow.id)))
    candidates = [c for r in rows for c in (r.decision or {}).get("match", {}).get("candidates", [])]
    names = _names(session, {c.get("customer_id") for c in candidates})
    return [{"id": r.id, "message_id": r.message_id, "sender": r.sender, "subject": r.subject, "received_at": r.received_at,
             "why": r.reason, "candidates": [{**c, "customer": names.get(c["customer_id"]) if c.get("customer_id") else None}
                                             for c in (r.decision or {}).get("match", {}).get("candidates", [])]}
            for r in rows]


@review_app.callback()
def review_default(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The review queue (same as `review list`)."""
    if ctx.invoked_subcommand is None:
        review_list(as_json=as_json)


@review_app.command("list")
def review_list(as_json: JsonOpt = False) -> None:
    """Messages waiting for a person: who the sender could be, and why it is not sure.

    Example: crm-bridge intake review list --json
    """
    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            rows = _review_rows(s)
    finally:
        bridge.close()
    if as_json:
        emit_json({"review": rows})
        return
    if not rows:
        console.print("nothing to review")
        return
    table = Table("id", "from", "subject", "could be", "why")
    for r in rows:
        table.add_row(str(r["id"]), escape(r["sender"]), escape(r["subject"]),
                      escape(", ".join(sorted({c["customer"] or "no customer" for c in r["candidates"]}))), escape(r["why"] or ""))
    console.print(table)


def _pending(session: Session, inbox_id: int) -> InboxRow:
    from intake.tables import InboxRow

    row = session.get(InboxRow, inbox_id)
    if row is None or row.state != "review":
        state = "no such message" if row is None else f"it is {row.state}, not waiting for review"
        console_err.print(f"[red]message {inbox_id}: {state}[/red]; see `crm-bridge intake review list`", highlight=False)
        raise typer.Exit(1)
    return row


def _customer(session: Session, given: str) -> int:
    """A customer by ИНН, exact name or ``#<id>``; exits 1 naming the near names otherwise."""
    from sqlalchemy import select

    from crm_bridge.errors import did_you_mean
    from crm_bridge.store.tables import CustomerRow

    live = CustomerRow.deleted.is_(False)
    if given.startswith("#") and given[1:].isdigit():
        found = list(session.scalars(select(CustomerRow.id).where(CustomerRow.id == int(given[1:]), live)))
    else:
        found = list(session.scalars(select(CustomerRow.id).where((CustomerRow.tax_id == given) | (CustomerRow.name == given), live)))
    if len(found) == 1:
        return found[0]
    if found:
        console_err.print(f"[red]{escape(given)!r} names {len(found)} customers[/red]; give one as #<id>: "
                          + ", ".join(f"#{i}" for i in found), highlight=False)
        raise typer.Exit(1)
    names = list(session.scalars(select(CustomerRow.name).where(live)))
    console_err.print(f"[red]no customer {escape(given)!r}[/red].{escape(did_you_mean(given, names))} "
                      "Give the ИНН, the exact name or #<id>.", highlight=False)
    raise typer.Exit(1)


def _decide(inbox_id: int, choice: dict[str, Any], as_json: bool) -> None:  # noqa: FBT001
    import getpass

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            row = _pending(s, inbox_id)
            if "customer" in choice:
                choice = {"customer_id": _customer(s, choice.pop("customer"))}
                candidates = (row.decision or {}).get("match", {}).get("candidates", [])
                contacts = [c["contact_id"] for c in candidates if c.get("customer_id") == choice["customer_id"] and c.get("contact_id")]
                choice["contact_id"] = contacts[0] if len(contacts) == 1 else None
            row.decision = {**(row.decision or {}), "review": {**choice, "by": getpass.getuser()}}
            row.state, row.reason = "new", None  # decided again by the next intake.process, with this choice
            label = _names(s, {choice.get("customer_id")}).get(choice.get("customer_id") or 0, "a new contact")
    finally:
        bridge.close()
    if as_json:
        emit_json({"id": inbox_id, "decision": choice, "customer": label, "state": "new"})
        return
    console.print(f"message {inbox_id}: {escape(label)}; registered by the next run (crm-bridge run --once)")


@review_app.command("assign")
def review_assign(
    inbox_id: Annotated[int, typer.Argument(metavar="ID", help="The message's id in `intake review list`.")],
    customer: Annotated[str, typer.Argument(help="The customer: ИНН, exact name, or #<id>.")],
    as_json: JsonOpt = False,
) -> None:
    """Say which customer wrote message ID; the next run registers or threads it.

    Example: crm-bridge intake review assign 17 7707083893
    """
    _decide(inbox_id, {"customer": customer}, as_json)


@review_app.command("new")
def review_new(
    inbox_id: Annotated[int, typer.Argument(metavar="ID", help="The message's id in `intake review list`.")],
    as_json: JsonOpt = False,
) -> None:
    """Say message ID is from none of them: a new contact is created for the sender.

    Example: crm-bridge intake review new 17
    """
    _decide(inbox_id, {"new": True}, as_json)


def _explained(row: InboxRow, number: str | None, customer: str | None) -> dict[str, Any]:
    decision = row.decision or {}
    return {"id": row.id, "message_id": row.message_id, "via": row.via, "sender": row.sender, "subject": row.subject,
            "received_at": row.received_at, "state": row.state, "reason": row.reason, "request": number,
            "customer": customer, "match": decision.get("match"), "classification": decision.get("classification"),
            "thread": decision.get("thread"), "review": decision.get("review"), "problems": decision.get("problems", []),
            "attachments": decision.get("attachments", [])}


def _with_crm_states(session: Any, found: list[dict[str, Any]]) -> None:
    """Each sent attachment's outbox state per backend (``crm``: pending, sent, parked…)."""
    from sqlalchemy import select

    from sync.tables import OutboxRow

    ids = [a["attachment_id"] for m in found for a in m["attachments"] if a.get("attachment_id")]
    if not ids:
        return
    states: dict[int, dict[str, str]] = {}
    for backend, local_id, state in session.execute(select(OutboxRow.backend, OutboxRow.local_id, OutboxRow.state).where(
            OutboxRow.model == "attachment", OutboxRow.operation == "create", OutboxRow.local_id.in_(ids))):
        states.setdefault(local_id, {})[backend] = state
    for m in found:
        m["attachments"] = [{**a, "crm": states.get(a.get("attachment_id") or 0, {})} for a in m["attachments"]]


@intake_app.command("explain")
def explain(
    which: Annotated[str, typer.Argument(metavar="MESSAGE-ID|CRM-NUMBER", help="A Message-ID (<…@…>) or a request's number.")],
    as_json: JsonOpt = False,
) -> None:
    """Why a message became what it did: customer match, rules, thread, or why ignored.

    Shows the match and its rule, the rule that set the type and the one that set the
    priority, the thread or repeat-contact rule, the files (kept or over the limit, and
    each kept one's state in every CRM it is created in) and any parse problems.

    Example: crm-bridge intake explain CRM-0000042
    """
    from sqlalchemy import select

    from crm_bridge.store.tables import TicketRow
    from intake.tables import InboxRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            wanted = which.strip()
            query = select(InboxRow).order_by(InboxRow.id)
            if "@" in wanted:
                rows = list(s.scalars(query.where(InboxRow.message_id == (wanted if wanted.startswith("<") else f"<{wanted}>"))))
            else:
                ids = list(s.scalars(select(TicketRow.id).where(TicketRow.number == wanted)))
                rows = list(s.scalars(query.where(InboxRow.ticket_id.in_(ids)))) if ids else []
            if not rows:
                console_err.print(f"[red]no inbound message for {escape(wanted)!r}[/red]: give a Message-ID as in the "
                                  "mail's header, or a request number intake registered (see `crm-bridge intake log`)",
                                  highlight=False)
                raise typer.Exit(1)
            numbers = dict(s.execute(select(TicketRow.id, TicketRow.number).where(
                TicketRow.id.in_([r.ticket_id for r in rows if r.ticket_id])) ).all())
            names = _names(s, {r.customer_id for r in rows})
            found = [_explained(r, numbers.get(r.ticket_id or 0), names.get(r.customer_id or 0)) for r in rows]
            _with_crm_states(s, found)
    finally:
        bridge.close()
    if as_json:
        emit_json({"messages": found})
        return
    for m in found:
        console.print(f"[bold]{escape(m['message_id'])}[/bold] from {escape(m['sender'])}: {escape(m['subject'])}", highlight=False)
        console.print(f"  state: {m['state']}" + (f" — {escape(m['reason'])}" if m["reason"] else ""), highlight=False)
        if m["request"] is not None:
            console.print(f"  request: {escape(m['request'] or '(number not read back yet)')}", highlight=False)
        if m["thread"]:
            console.print(f"  attached by: {escape(m['thread']['rule'])}", highlight=False)
        if m["match"]:
            console.print(f"  customer: {escape(m['customer'] or '—')} ({escape(m['match']['why'])})", highlight=False)
        if m["classification"]:
            c = m["classification"]
            console.print(f"  type: {c['type']} — rule {escape(c['type_rule'])}\n"
                          f"  priority: {c['priority']} — rule {escape(c['priority_rule'])}", highlight=False)
        for a in m["attachments"]:
            sent = ", ".join(f"{b}: {state}" for b, state in a.get("crm", {}).items()) or (
                "not sent: over max_attachment" if not a.get("kept") else "not sent to a CRM (create_remote)")
            console.print(f"  file: {escape(str(a.get('filename')))} ({a.get('size')} bytes) — {escape(sent)}", highlight=False)
        for problem in m["problems"]:
            console.print(f"  [yellow]problem:[/yellow] {escape(problem)}", highlight=False)


@intake_app.command("log")
def log_command(
    state: Annotated[str | None, typer.Option("--state", help="Only: new, registered, threaded, review, ignored, failed.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest messages to show.", min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Every inbound message, newest first: what became of it and why.

    Example: crm-bridge intake log --state ignored
    """
    from sqlalchemy import select

    from crm_bridge.store.tables import TicketRow
    from intake.tables import InboxRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            query = (select(InboxRow.id, InboxRow.message_id, InboxRow.sender, InboxRow.subject, InboxRow.via,
                            InboxRow.received_at, InboxRow.state, InboxRow.reason, TicketRow.number)
                     .outerjoin(TicketRow, TicketRow.id == InboxRow.ticket_id).order_by(InboxRow.id.desc()).limit(limit))
            if state is not None:
                query = query.where(InboxRow.state == state)
            rows = [dict(r._mapping) | {"request": r.number} for r in s.execute(query)]
    finally:
        bridge.close()
    for r in rows:
        r.pop("number", None)
    if as_json:
        emit_json({"messages": rows})
        return
    if not rows:
        console.print("no inbound messages yet")
        return
    table = Table("id", "from", "subject", "via", "state", "request", "why")
    for r in rows:
        table.add_row(str(r["id"]), escape(r["sender"]), escape(r["subject"]), r["via"], r["state"],
                      escape(r["request"] or ""), escape(r["reason"] or ""))
    console.print(table)


@intake_app.command("submit")
def submit(
    files: Annotated[list[Path], typer.Argument(help="Messages as .eml files (RFC 5322).", exists=True, dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Store messages into the inbox as if they had been mailed (a lost mail found later, a test).

    Example: crm-bridge intake submit complaint.eml
    """
    from intake.inbox import store_message

    bridge = open_app()
    try:
        bridge.upgrade_db()
        stored = [store_message(bridge.store, path.read_bytes(), via="cli") for path in files]
    finally:
        bridge.close()
    if as_json:
        emit_json({"stored": [{"id": s.inbox_id, "message_id": s.message_id, "new": s.new} for s in stored]})
        return
    for path, s in zip(files, stored, strict=True):
        console.print(f"{escape(str(path))}: {'stored as' if s.new else 'already stored as'} {s.inbox_id}", highlight=False)


@intake_app.command("serve")
def serve() -> None:
    """Receive mail until Ctrl-C: the SMTP receiver and the IMAP folder (IDLE where offered).

    Messages are stored (intake.smtp, intake.imap); `crm-bridge run` registers them.

    Example: crm-bridge -c crm-bridge.yaml intake serve
    """
    import signal
    import threading

    from intake.watch import watch

    bridge = open_app()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bridge.upgrade_db()
        watch(bridge, stop, on_ready=lambda where: console.print(f"receiving mail: {where}; Ctrl-C stops"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bridge.close()
