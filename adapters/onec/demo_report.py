"""What ``crm-bridge demo`` reads back and prints: each request as the emulated 1C holds
it (due dates, assignees, co-executors over OData; intake's requests in the emulator),
the routing moves, the mail the demo's sink got, and the tables. Called by
``adapters.onec.cli.demo``; the objects come in as ``Any`` (an App, the emulator, the
sink), so this module imports no other addon at load time."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.table import Table

from adapters.onec.cli import ZONE
from crm_bridge.cli.common import console

__all__ = [
    "due_dates_in_1c",
    "escalations",
    "intake_in_1c",
    "mail_counts",
    "people_in_1c",
    "print_escalations",
    "print_intake",
    "print_mail",
    "print_requests",
    "request_rows",
]


def due_dates_in_1c(bridge: Any) -> dict[str, str | None]:
    """Read every request's due date back from 1C over OData: Ref_Key -> СрокИсполнения."""
    client = bridge.backend("demo-1c").client
    written: dict[str, str | None] = {}
    for page in client.pages("Document_Интерес", select=["Ref_Key", "СрокИсполнения"]):
        for row in page:
            value = row.get("СрокИсполнения")
            written[str(row["Ref_Key"])] = None if not value or value.startswith("0001-") else value
    return written


def request_rows(
    bridge: Any, written: dict[str, str | None], limit: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The newest `limit` requests as the table shows them, and the counts the summary states (a due date counts as written back when 1C serves it, to the second)."""
    from sqlalchemy import func, select

    from crm_bridge.model import TicketStatus
    from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow
    from sync.tables import BindingRow

    zone = ZoneInfo(ZONE)
    rows: list[dict[str, Any]] = []
    counts = {
        "tickets": 0,
        "customers": 0,
        "with_due": 0,
        "written_back": 0,
        "breached": 0,
        "open": 0,
        "open_assigned": 0,
    }
    with bridge.store.transaction() as s:
        counts["customers"] = s.scalar(select(func.count()).select_from(CustomerRow)) or 0
        names = {int(i): str(n) for i, n in s.execute(select(AgentRow.id, AgentRow.name))}
        query = (
            select(TicketRow, CustomerRow.name, BindingRow.remote_id)
            .join(
                BindingRow, (BindingRow.local_id == TicketRow.id) & (BindingRow.model == "ticket")
            )
            .outerjoin(CustomerRow, CustomerRow.id == TicketRow.customer_id)
            .order_by(TicketRow.created_at.desc())
        )
        for ticket, customer, remote_id in s.execute(query):
            counts["tickets"] += 1
            # 1C holds whole seconds: a request registered here (intake) opened at 10:40:19.75 is due at .75 too
            due_local = (
                ticket.resolution_due.astimezone(zone)
                .replace(tzinfo=None, microsecond=0)
                .isoformat()
                if ticket.resolution_due
                else None
            )
            back = due_local is not None and written.get(remote_id) == due_local
            counts["with_due"] += due_local is not None
            counts["written_back"] += back
            counts["breached"] += bool(ticket.sla_breached)
            if TicketStatus(ticket.status).is_open and not ticket.deleted:
                counts["open"] += 1
                counts["open_assigned"] += ticket.assignee_id is not None
            if len(rows) < limit:
                rows.append(
                    {
                        "number": ticket.number,
                        "customer": customer,
                        "type": ticket.type,
                        "priority": ticket.priority,
                        "status": ticket.status,
                        "opened": ticket.created_at.astimezone(zone).strftime("%d.%m %H:%M"),
                        "due": ticket.resolution_due.astimezone(zone).strftime("%d.%m %H:%M")
                        if ticket.resolution_due
                        else None,
                        "sla": ticket.sla_state,
                        "written_back": back,
                        "assignee": names.get(ticket.assignee_id or 0),
                    }
                )
    return rows, counts


def escalations(bridge: Any) -> list[dict[str, Any]]:
    """The requests an SLA escalation reassigned (routing's log): number, from, to, why."""
    from sqlalchemy import select

    from crm_bridge.store.tables import AgentRow, TicketRow
    from routing.tables import RoutingLogRow

    with bridge.store.transaction() as s:
        names = {int(i): str(n) for i, n in s.execute(select(AgentRow.id, AgentRow.name))}
        moves = s.execute(
            select(
                TicketRow.number,
                RoutingLogRow.previous_id,
                RoutingLogRow.agent_id,
                RoutingLogRow.reason,
            )
            .join(TicketRow, TicketRow.id == RoutingLogRow.ticket_id)
            .where(RoutingLogRow.action == "reassigned")
            .order_by(RoutingLogRow.id)
        )
        return [
            {
                "number": number,
                "from": names.get(before or 0),
                "to": names.get(after or 0),
                "reason": reason,
            }
            for number, before, after, reason in moves
        ]


def intake_in_1c(scene: Any, sink: Any, emu: Any, jobs: dict[str, Any]) -> dict[str, Any]:
    """The customer answers intake's acknowledgement (``demo.intake``); then the scene's
    report, with each request as the emulated 1C holds it (the documents with its subject,
    its number, posted, its partner, its due date)."""
    scene.reply(sink.messages)
    report: dict[str, Any] = {**scene.report(sink.messages), "jobs": jobs}
    docs = emu.records("Document_Интерес")
    for row in report["requests"]:
        doc = next((d for d in docs if str(d["Ref_Key"]) == row["remote_id"]), None) or {}
        row["in_1c"] = {
            "documents": sum(d.get("Тема") == row["subject"] for d in docs),
            "number": doc.get("Number"),
            "posted": bool(doc.get("Posted")),
            "partner_key": doc.get("Партнер_Key"),
            "due": doc.get("СрокИсполнения"),
        }
    return report


def print_intake(intake: dict[str, Any]) -> None:
    """The requests intake took in during the demo (a row each) and the line on the reply."""
    table = Table(
        title="Requests that came in during the demo (Moscow time)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # by, in 1C, the two due dates and the languages (44 characters) always fit, with three
    # characters between columns; the customer and the type share the rest, cut short
    spare = max(console.width - 44 - 3 * 6 - 1, 16)
    table.add_column("by", no_wrap=True, min_width=8)
    table.add_column(
        "customer (matched by)",
        overflow="ellipsis",
        no_wrap=True,
        max_width=spare - min(spare // 3, 17),
    )
    table.add_column("in 1C", no_wrap=True, min_width=11)
    table.add_column("type", overflow="ellipsis", no_wrap=True, max_width=min(spare // 3, 17))
    table.add_column("1st reply", no_wrap=True, min_width=11)
    table.add_column("resolution", no_wrap=True, min_width=11)
    table.add_column("ack", no_wrap=True, min_width=3)
    for r in intake["requests"]:
        one = r["in_1c"]
        held = (
            one["number"]
            if one["posted"] and one["documents"] == 1
            else f"[red]{one['documents']} documents[/red]"
        )
        acks = ", ".join(a["language"] for a in r["acknowledgements"]) or "[red]none[/red]"
        rule = str(r["matched_by"] or "—").split(" ")[0]
        table.add_row(
            r["channel"],
            f"{r['customer'] or '—'} ({rule})",
            held,
            r["type"],
            r["first_response_due"] or "—",
            r["resolution_due"] or "—",
            acks,
        )
    console.print(table)
    reply, sent = intake["reply"], intake["requests"]
    clock = reply.get("next_response") or {}
    console.print(
        f"Each became one request in 1C, created, posted and numbered by 1C (the mail and the API call were each sent "
        f"twice, stored once; the API's source: {sent[-1]['source']}), acknowledged in the customer's language. The mail's "
        f"sender answered the acknowledgement: the reply joined {reply.get('number', '—')} "
        f"({str(reply.get('rule', 'not threaded')).split(' <')[0]}) "
        f"as the customer's message; the next-response clock runs from it, due {clock.get('due', '—')} "
        f"({clock.get('policy', 'no policy')}).",
        highlight=False,
    )


def people_in_1c(bridge: Any) -> dict[str, int]:
    """Assignees and co-executors the bridge holds, and how many 1C serves back over OData
    as they are here (Ответственный_Key; the Соисполнители section, row for row)."""
    from sqlalchemy import select

    from crm_bridge.store.tables import TicketRow
    from sync.tables import BindingRow

    client = bridge.backend("demo-1c").client
    held: dict[str, dict[str, Any]] = {}
    for page in client.pages(
        "Document_Интерес", select=["Ref_Key", "Ответственный_Key", "Соисполнители"]
    ):
        held.update((str(row["Ref_Key"]), row) for row in page)
    counts = {"assigned": 0, "assigned_back": 0, "with_co_executors": 0, "co_executors_back": 0}
    with bridge.store.transaction() as s:
        users: dict[int, str] = {
            local: remote
            for local, remote in s.execute(
                select(BindingRow.local_id, BindingRow.remote_id).where(
                    BindingRow.backend == "demo-1c", BindingRow.model == "agent"
                )
            )
        }
        query = select(TicketRow.assignee_id, TicketRow.co_executors, BindingRow.remote_id).join(
            BindingRow, (BindingRow.local_id == TicketRow.id) & (BindingRow.model == "ticket")
        )
        for assignee, co_executors, remote_id in s.execute(query):
            there = held.get(remote_id, {})
            if assignee is not None:
                counts["assigned"] += 1
                counts["assigned_back"] += str(there.get("Ответственный_Key")) == users.get(
                    assignee
                )
            if co_executors:
                counts["with_co_executors"] += 1
                section = [str(r.get("Пользователь_Key")) for r in there.get("Соисполнители") or []]
                counts["co_executors_back"] += section == [users.get(i) for i in co_executors]
    return counts


def mail_counts(sink: Any, bridge: Any) -> dict[str, int]:
    """What the demo's SMTP sink received (mails), and the notifications they carried, by kind."""
    from sqlalchemy import func, select

    from notify.tables import NotificationRow

    with bridge.store.transaction() as session:
        sent = dict(
            session.execute(
                select(NotificationRow.event, func.count())
                .where(NotificationRow.state == "sent", NotificationRow.channel == "email")
                .group_by(NotificationRow.event)
            ).all()
        )
        telegram = session.scalar(
            select(func.count()).where(
                NotificationRow.state == "sent", NotificationRow.channel == "telegram"
            )
        )
    return {
        "mails": len(sink.messages),
        "telegram_alerts": int(telegram or 0),
        "acknowledgements": sent.get("acknowledgement", 0),
        "assignments": sent.get("assigned", 0),
        "staff_assignments": sent.get("assigned_staff", 0),
        "sla_alerts": sum(n for event, n in sent.items() if event.startswith("sla_")),
    }


def print_escalations(moves: list[dict[str, Any]]) -> None:
    """One line on the SLA escalations that reassigned requests, with one example."""
    if not moves:
        return
    first = moves[0]
    console.print(
        f"SLA escalations reassigned [bold]{len({m['number'] for m in moves})}[/bold] urgent requests past their target "
        f"within the duty team ({len(moves)} moves), e.g. "
        f"{first['number']}: {first['from'] or 'nobody'} → [bold]{first['to']}[/bold] ({first['reason']}). "
        f"Why: crm-bridge routing explain {first['number']}",
        highlight=False,
    )


def print_mail(counts: dict[str, int], address: str) -> None:
    """One line on what the demo's SMTP sink received."""
    console.print(
        f"The demo's SMTP sink at {address} received [bold]{counts['mails']}[/bold] mails: to customers "
        f"{counts['acknowledgements']} acknowledgements and {counts['assignments']} assignment notices (addresses from "
        f"1C's КонтактнаяИнформация; requests opened within notify.customer.acknowledge_within), to staff "
        f"{counts['staff_assignments']} assignments and {counts['sla_alerts']} SLA alerts (a burst to one address goes "
        "as one digest).",
        highlight=False,
    )


def print_requests(
    rows: list[dict[str, Any]], counts: dict[str, int], elapsed: float, base_url: str
) -> None:
    """The table of requests and the summary lines under it."""
    table = Table(
        title=f"Requests from the 1C:CRM emulator (newest {len(rows)} of {counts['tickets']}), Moscow time",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # number, opened, due, SLA and 1C (43 characters) always fit, with three characters
    # between columns; type, priority and the assignee share what is left, cut short with
    # an ellipsis; the customer's name shows only when there is room for it (the SLA, who
    # has the request and what 1C holds are the point).
    with_customer = console.width >= 120
    spare = max(console.width - 44 - 3 * (8 if with_customer else 7), 15)
    kind, priority = min(17, spare * 35 // 100), min(8, spare * 2 // 10)
    assignee = min(16, spare - kind - priority)
    customer = min(24, spare - kind - priority - assignee)
    table.add_column("number", no_wrap=True, min_width=11)
    if with_customer:
        table.add_column("customer", overflow="ellipsis", no_wrap=True, max_width=customer)
    table.add_column("type", overflow="ellipsis", no_wrap=True, max_width=kind)
    table.add_column("priority", overflow="ellipsis", no_wrap=True, max_width=priority)
    table.add_column("assignee", overflow="ellipsis", no_wrap=True, max_width=assignee)
    for name in ("opened", "due", "SLA", "1C"):
        table.add_column(
            name, no_wrap=True, min_width={"opened": 11, "due": 11, "SLA": 8, "1C": 2}[name]
        )
    for r in rows:
        sla = {
            "breached": "[red]breached[/red]",
            "missed": "[red]missed[/red]",
            "met": "[green]met[/green]",
        }.get(r["sla"] or "", r["sla"] or "—")
        cells = [
            r["number"],
            *([r["customer"] or "—"] if with_customer else []),
            r["type"],
            r["priority"],
            _short(r["assignee"]),
            r["opened"],
            r["due"] or "—",
            sla,
            "—"
            if r["due"] is None
            else "[green]✓[/green]"
            if r["written_back"]
            else "[red]✗[/red]",
        ]
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"Imported [bold]{counts['tickets']}[/bold] requests and [bold]{counts['customers']}[/bold] customers; "
        f"[bold]{counts['written_back']}[/bold] of {counts['with_due']} due dates written back to 1C and read back over OData; "
        f"{counts['tickets'] - counts['with_due']} paused (waiting for the customer) or without a policy; "
        f"{counts['breached']} breached; {counts['open_assigned']} of {counts['open']} open requests have an assignee; "
        f"{elapsed:.1f} s."
    )
    if "assigned" in counts:
        console.print(
            f"Assigned [bold]{counts['assigned']}[/bold] requests ({counts['assigned_back']} as 1C holds them: "
            f"Ответственный); {counts['with_co_executors']} with co-executors, {counts['co_executors_back']} of them "
            "as 1C's Соисполнители section holds them (crm-bridge routing explain <number> says why).",
            highlight=False,
        )


def _short(name: str | None) -> str:
    """ "Баранова Юлия Олеговна" as "Баранова Ю. О.": the surname is what staff scan for."""
    if not name:
        return "—"
    surname, *rest = name.split()
    return " ".join([surname, *(f"{part[0]}." for part in rest)])
