"""Commands of the 1C addon: ``demo`` and ``emulator``."""

from __future__ import annotations

import secrets
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json

__all__ = ["DEMO_LOGIN", "DEMO_PASSWORD", "demo", "demo_config", "emulator", "inspect", "onec_app"]

DEMO_LOGIN, DEMO_PASSWORD = "Администратор", "demo"
DEMO_BOT_TOKEN, DEMO_CHAT, DEMO_WEBHOOK_SECRET = "100000:demo-bot-token", "-1001000000001", "demo-webhook-secret-0123"
ZONE = "Europe/Moscow"
#: The web dashboard's login in ``demo --keep-running``: ``lead`` / ``demo`` (this is the
#: Argon2id hash of "demo", as ``crm-bridge web hash-password`` prints it).
DEMO_WEB_USER = "lead"
DEMO_WEB_HASH = "$argon2id$v=19$m=65536,t=3,p=4$OiTlrzNT3avyRv0+ZhxmIA$bvhQChvtemfXOkKGf4zi2H+xkdy9q9T4eKwj+A7Bq6I"


def demo_config(base_url: str, db_path: Path, *, smtp: tuple[str, int] | None = None, co_executors: bool = False,
                duty: Sequence[str] = (), alerts: tuple[str, str] | None = None, create: bool = False) -> str:
    """The configuration the demo runs with: SQLite plus the emulator, nothing to edit;
    with `smtp` (host, port), notify sends into that server (the demo's local sink); with
    `co_executors`, urgent requests and technical problems get a second specialist (1C's
    Соисполнители); with `duty` (1C users' names), they form the team an urgent request
    at risk is reassigned within when its resolution target is breached (the demo shows
    such moves). With either, agents carry up to 40 open requests — the generated base
    leaves 20-30 open on each, so at 10 nobody could take a new one (tests built on this
    configuration leave them out unless they test them). With `alerts` (a Bot API's base
    URL, a webhook's URL: the demo's local fakes), SLA breaches also go to the supervisors'
    Telegram chat and, signed, to the webhook. With `create`, requests registered here
    (intake's) are created in 1C and posted."""
    capacity = 40 if co_executors or duty else 10
    rules = "" if not co_executors else """
  rules:   # urgent requests and technical problems: the assignee plus a co-executor (Соисполнители), written back to 1C
    - {name: a second pair of hands, match: {type: [urgent, technical_problem]}, method: round_robin,
       co_executors: [{skill: 1c-support, min_level: 1}]}
    - {name: everything else, method: round_robin}"""
    escalation = "" if not duty else f"""  agents:    # the duty team: an urgent request past its target moves to the least loaded other member
{"".join(f'    "{name}": {{team: Дежурные, capacity: 40}}{chr(10)}' for name in duty)}  teams: {{Дежурные: {{lead: "{duty[0]}"}}}}
sla:   # the shipped policies with a next-response target (a customer's message to the agent's answer), and urgent requests escalate to the duty team
  policies:
    - {{name: urgent, match: {{type: [urgent]}}, calendar: 24x7, targets: {{first_response: 30m, next_response: 1h, resolution: 4h}},
       escalations: [{{after: 0m, action: reassign, team: Дежурные}}, {{after: 0m, action: notify_supervisor}}]}}
    - {{name: technical problem, match: {{type: [technical_problem]}}, calendar: office, targets: {{first_response: 2h, next_response: 4h, resolution: 24h}}}}
    - {{name: consultation, match: {{type: [consultation]}}, calendar: office, targets: {{first_response: 4h, next_response: 8h, resolution: 48h}}}}
    - {{name: thanks and complaints, match: {{type: [feedback]}}, calendar: office, targets: {{first_response: 8h, next_response: 8h, resolution: 72h}}}}
    - {{name: everything else, calendar: office, targets: {{first_response: 4h, next_response: 8h, resolution: 48h}}}}
"""
    chat = "" if alerts is None else f', breach: [assignee, supervisor, "telegram:{DEMO_CHAT}"]'
    mail = "" if smtp is None else f"""
notify:    # into the demo's local SMTP sink; SLA alerts to the supervisor
  email: {{host: {smtp[0]}, port: {smtp[1]}, tls: none, from: "Поддержка (демо) <support@demo.example>"}}
  staff: {{supervisor: "Старший смены <lead@demo.example>"{chat}}}
"""
    if smtp is not None and alerts is not None:
        mail += f"""  telegram: {{token: "{DEMO_BOT_TOKEN}", base_url: "{alerts[0]}"}}   # the demo's local Bot API
  webhooks: [{{url: "{alerts[1]}", secret: {DEMO_WEBHOOK_SECRET}, events: [sla_breach, sla_escalate]}}]
"""
    creates = "" if not create else "    create_remote: [ticket]   # requests registered here (intake) are created in 1C\n" \
                                    "    post_created: [ticket]    # and posted, as Document_Интерес is\n"
    return f"""
store: {{url: "sqlite:///{db_path}"}}{mail}
routing:   # every active 1C user takes requests (no schedule: round the clock), up to {capacity} open at a time
  agent_defaults: {{capacity: {capacity}, skills: {{1c-support: 2}}}}
  exclude: ["Интеграция (служебный)"]{rules}
{escalation}backends:
  demo-1c:
    kind: onec_odata
    url: "{base_url}"
    username: {DEMO_LOGIN}
    password: {DEMO_PASSWORD}
    timezone: {ZONE}
{creates}"""


@contextmanager
def _port_free() -> Iterator[None]:
    """The emulator's port taken: said in one line, exit status 2 (a usage error)."""
    from adapters.onec.emulator import PortInUse

    try:
        yield
    except PortInUse as exc:
        console_err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc


def _curl(base_url: str, login: str = DEMO_LOGIN, password: str = DEMO_PASSWORD) -> str:
    return (
        f"curl -s -u '{login}:{password}' "
        f"'{base_url}Document_%D0%98%D0%BD%D1%82%D0%B5%D1%80%D0%B5%D1%81?$format=json&$top=3"
        "&$select=Number,%D0%A1%D1%80%D0%BE%D0%BA%D0%98%D1%81%D0%BF%D0%BE%D0%BB%D0%BD%D0%B5%D0%BD%D0%B8%D1%8F'"
    )


def _duty(emu: Any) -> list[str]:
    """Three of the emulated 1C's support agents: the demo's duty team."""
    users = emu.records("Catalog_Пользователи")
    return [str(u["Description"]) for u in users if not u["Недействителен"] and not u.get("Служебный")][:3]


def demo(
    requests: Annotated[int, typer.Option("--requests", "-n", help="Requests in the emulated 1C base.", min=1)] = 300,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo data.")] = 1,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show in the table.", min=0)] = 15,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file to keep (default: a temporary one).")] = None,
    keep_running: Annotated[bool, typer.Option("--keep-running", "--serve", help="Keep the emulator, the sync loop and the web pages "
                                               "running until Ctrl-C (--serve is the same).")] = False,
    port: Annotated[int, typer.Option("--port", help="Emulator port (0: any free port).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run the whole loop against a built-in 1C:CRM emulator, nothing to configure.

    Imports requests and customers, computes SLA due dates, writes them back into 1C with
    PATCH and reads them back over OData. With intake installed, a mail to the demo
    mailbox, the web form and an API call become requests in 1C, and the customer's reply
    to the acknowledgement joins its request.

    Example: crm-bridge demo --requests 500 --serve
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from adapters.onec.demo_report import (
        due_dates_in_1c,
        escalations,
        intake_in_1c,
        mail_counts,
        people_in_1c,
        print_escalations,
        print_intake,
        print_mail,
        print_requests,
        request_rows,
    )
    from adapters.onec.emulator import Emulator
    from crm_bridge.app import App, load_registry
    from crm_bridge.config import config_from_text
    from crm_bridge.runner import Runner, run_cycle
    from notify.channels.fakes import FakeTelegram, WebhookReceiver
    from notify.sink import SmtpSink

    workdir = tempfile.TemporaryDirectory(prefix="crm-bridge-demo-")
    db_path = db.resolve() if db else Path(workdir.name) / "demo.db"
    started = time.monotonic()
    web_port = _free_port()  # the web pages run in every demo: intake's form is submitted over HTTP
    web = None
    services: list[Any] = []
    registry, addons = load_registry()
    parts = [c.obj() for c in registry.all("demo.config")]  # other addons' sections (intake: the demo mailbox, …)
    with _port_free(), workdir, Emulator(port=port, requests=requests, seed=seed, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu, \
            SmtpSink() as sink, FakeTelegram(DEMO_BOT_TOKEN) as bot, WebhookReceiver(DEMO_WEBHOOK_SECRET) as hook:
        text = demo_config(emu.base_url, db_path, smtp=(sink.host, sink.port), co_executors=True, duty=_duty(emu),
                           alerts=(bot.url, f"{hook.url}/crm-bridge"), create=bool(parts)) + demo_web_config(web_port)
        bridge = App.build(config_from_text(text + "".join(parts), registry, file="<demo>"), registry, addons)
        try:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                          console=console, transient=True, disable=as_json) as progress:
                task = progress.add_task("creating the store", total=None)
                bridge.upgrade_db()
                # what addons run beside the loop, as in `crm-bridge run` (intake: the demo mailbox)
                services = [s for comp in bridge.registry.all("run.service") if (s := comp.obj(bridge)) is not None]
                web = _start_web(bridge, web_port)
                # intake's scene (by registration), once customers are imported: a mail to the demo mailbox, the
                # web form and an API call, created in 1C; the cycle plans, assigns and acknowledges them with the rest
                scene = next((c.obj(bridge) for c in bridge.registry.all("demo.intake")), None) if web else None
                if scene is not None:
                    progress.update(task, description="importing; a mail to the demo mailbox, the web form and an API call")
                    pulled = time.monotonic()
                    intake_jobs = {"sync.pull": {**bridge.run_job("sync.pull"), "seconds": round(time.monotonic() - pulled, 3)}}
                    scene.send(web.url)
                    intake_jobs.update(scene.register())
                progress.update(task, description=f"importing from the 1C emulator at {emu.base_url}, computing SLA, writing back")
                result = run_cycle(bridge)
                intake = {} if scene is None else intake_in_1c(scene, sink, emu, intake_jobs)
                # a customer chooses a daily Telegram digest in their cabinet (notify, by registration);
                # then a 1C user resolves their request, and the next cycle tells them as they chose
                chooser = next((c.obj(bridge) for c in bridge.registry.all("demo.customer")), None)
                if chooser is not None and (picked := chooser.choose()):
                    progress.update(task, description="a customer chose a daily Telegram digest; a 1C user resolves their request")
                    _resolve_in_1c(bridge, emu, picked[0])
                    run_cycle(bridge)
                progress.update(task, description="reading due dates back from 1C over OData")
                rows, counts = request_rows(bridge, due_dates_in_1c(bridge), limit)
                counts.update(people_in_1c(bridge))
                escalated = escalations(bridge)
            counts.update(mail_counts(sink, bridge))
            counts.update(telegram_messages=len(bot.sent), webhook_posts=len(hook.received))
            counts["reassigned"] = len({m["number"] for m in escalated})
            digest_customer = chooser.told() if chooser is not None else {}
            # what other addons add at the end (kpi: the last 30 days' figures), by registration
            summaries = {c.name: c.obj(bridge) for c in bridge.registry.all("demo.summary")}
            elapsed = time.monotonic() - started
            if as_json:
                emit_json({"emulator": emu.base_url, "smtp": sink.address, "store": str(db_path), "jobs": result, "counts": counts,
                           "seconds": round(elapsed, 2), "rows": rows, "escalations": escalated, "summaries": summaries,
                           "digest_customer": digest_customer, "intake": intake})
            else:
                print_requests(rows, counts, elapsed, emu.base_url)
                print_escalations(escalated)
                print_mail(counts, sink.address)
                console.print(f"The supervisors' Telegram chat (a local Bot API at {bot.url}) got [bold]{len(bot.sent)}"
                              f"[/bold] messages carrying {counts['telegram_alerts']} breach alerts (a burst goes as one "
                              f"digest); a local webhook receiver accepted [bold]{len(hook.received)}[/bold] signed posts "
                              "(breaches and escalations).", highlight=False)
                if digest_customer:
                    console.print(f"{digest_customer['contact']} chose, in their cabinet, a daily digest by Telegram: after a "
                                  f"1C user resolved their request they got {digest_customer['rows']} — "
                                  f"{'; '.join(digest_customer['waiting_because']) or 'nothing waiting'}.", highlight=False)
                if intake:
                    print_intake(intake)
                for lines in summaries.values():
                    console.print("\n".join(lines), highlight=False)
            if keep_running:
                say = console_err if as_json else console  # keep stdout pure JSON for scripts

                def ready() -> None:
                    say.print(f"\nThe emulator stays up at {emu.base_url} (login {DEMO_LOGIN} / {DEMO_PASSWORD}). Try:\n  {_curl(emu.base_url)}",
                              soft_wrap=True)  # a command to paste: no line breaks inside it
                    if web is not None:
                        say.print(f"Dashboard: {web.url}/dashboard (login {DEMO_WEB_USER} / {DEMO_PASSWORD})", soft_wrap=True)
                        say.print(f"A customer's cabinet: {_cabinet_link(bridge)}", soft_wrap=True)
                        for line in (c.obj(bridge) for c in bridge.registry.all("demo.line")):  # other addons' (csat's survey)
                            if line:
                                say.print(line, soft_wrap=True)
                        for line in scene.lines(web.url) if scene is not None else []:  # intake's mailbox, form and API
                            say.print(line, soft_wrap=True, markup=False, highlight=False)
                    say.print("The sync loop keeps running; Ctrl-C stops both.")

                Runner(bridge, pull_every=10).serve(on_ready=ready)
                say.print("stopped cleanly")
        finally:
            for service in services:
                service.close()
            if web is not None:
                web.stop()
            bridge.close()
    if counts["tickets"] == 0 or counts["written_back"] != counts["with_due"]:
        raise typer.Exit(1)


def demo_web_config(port: int | None) -> str:
    """The web pages' sections of the demo (``--keep-running``): a supervisor login and a
    links key made for this run; nothing without a `port`."""
    return "" if port is None else f"""
links: {{secret: "{secrets.token_urlsafe(32)}", base_url: "http://127.0.0.1:{port}"}}
web:       # the supervisor dashboard and the customers' cabinet; login {DEMO_WEB_USER} / {DEMO_PASSWORD}
  port: {port}
  session_secret: "{secrets.token_urlsafe(32)}"
  users: {{{DEMO_WEB_USER}: {{password_hash: "{DEMO_WEB_HASH}", name: "Старший смены"}}}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_web(bridge: Any, port: int) -> Any:
    """The web addon's server (found by its registration: this addon does not import it), or None."""
    found = bridge.registry.all("web.server")
    return found[0].obj(bridge, port) if found else None


def _cabinet_link(bridge: Any) -> str:
    """A signed cabinet link of the contact with the most open requests."""
    from sqlalchemy import func, select

    from crm_bridge.links import link_url
    from crm_bridge.model import TicketStatus
    from crm_bridge.store.tables import TicketRow

    with bridge.store.transaction() as s:
        contact = s.scalar(select(TicketRow.contact_id).where(
            TicketRow.contact_id.is_not(None), TicketRow.status.in_([t.value for t in TicketStatus if t.is_open]))
            .group_by(TicketRow.contact_id).order_by(func.count().desc(), TicketRow.contact_id).limit(1))
    return link_url(bridge.config.section("links"), "cabinet", f"contact:{contact}", bridge.clock())


def _resolve_in_1c(bridge: Any, emu: Any, ticket_id: int) -> None:
    """A 1C user marks a request resolved (its state «Решено», the completion date now)."""
    from sync.binder import Binder

    with bridge.store.transaction() as s:
        remote_id = Binder(s, "demo-1c").remote_id("ticket", ticket_id)
    states = {str(r["Description"]): str(r["Ref_Key"]) for r in emu.records("Catalog_СостоянияИнтересов")}
    if remote_id is not None and "Решено" in states:
        emu.activity.edit(remote_id, {"Состояние_Key": states["Решено"]})


def emulator(
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    requests: Annotated[int, typer.Option("--requests", "-n", help="Requests to generate (1..1,000,000).", min=1, max=1_000_000)] = 300,
    customers: Annotated[int | None, typer.Option("--customers", help="Partners to generate (default requests/5, 10..50000).", min=1)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated data.")] = 1,
    now: Annotated[str | None, typer.Option("--now", help="The base's clock at start, ISO (naive: Moscow time), e.g. 2026-03-02T12:00:00.")] = None,
    users: Annotated[list[str] | None, typer.Option("--user", metavar="LOGIN:PASSWORD", help=f"Basic-auth user, repeatable (default {DEMO_LOGIN}:{DEMO_PASSWORD}).")] = None,
    latency: Annotated[float, typer.Option("--latency", help="Seconds added to every request (a real 1C answers in tens of ms).", min=0)] = 0.0,
    faults: Annotated[list[str] | None, typer.Option("--fault", metavar="JSON", help='A fault, repeatable, e.g. \'{"kind": "status", "status": 503, "method": "PATCH", "count": 3}\' (see the emulator README).')] = None,
    unpublish: Annotated[list[str] | None, typer.Option("--unpublish", metavar="SET", help="Leave an entity set out of the publication, repeatable.")] = None,
    user_activity: Annotated[float, typer.Option("--user-activity", help="Edits per second by a simulated 1C user.", min=0)] = 0.0,
    allow_delete: Annotated[bool, typer.Option("--allow-delete", help="Accept DELETE of catalog items and documents (1C refuses by default).")] = False,
) -> None:
    """Serve the 1C:CRM emulator (standard OData interface) until Ctrl-C.

    The same options as python -m adapters.onec.emulator, which has a few rarer ones.

    Example: crm-bridge emulator --port 8080 --requests 1000 --latency 0.03 --user-activity 2 --fault '{"kind": "status", "status": 503, "method": "PATCH", "count": 3}'
    """
    from adapters.onec.emulator.launch import emulator_from_text, serve

    try:
        emu = emulator_from_text(users=users or [f"{DEMO_LOGIN}:{DEMO_PASSWORD}"], faults=faults or [], now=now,
                                 host=host, port=port, requests=requests, customers=customers, seed=seed,
                                 latency=latency, unpublished=unpublish or [], user_activity=user_activity,
                                 allow_delete=allow_delete)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    def ready(started: Any) -> None:
        logins = ", ".join(f"{login} / {password}" for login, password in started.users.items())
        console.print(f"1C:CRM emulator at [bold]{started.base_url}[/bold], login {logins}; Ctrl-C stops it")
        console.print(f"Try: {_curl(started.base_url, *next(iter(started.users.items())))}", soft_wrap=True)

    with _port_free():
        serve(emu, on_ready=ready)
    console.print("emulator stopped")


onec_app = typer.Typer(help="1C:CRM backends: what a publication offers.\n\nExample: crm-bridge onec inspect --entity Document_Интерес", no_args_is_help=True)


def _onec_backend(bridge: Any, name: str | None) -> Any:
    from adapters.onec.adapter import OneCBackend

    names = [n for n, cfg in bridge.config.backends.items() if cfg.kind == "onec_odata"]
    if name is None:
        if len(names) != 1:
            console_err.print(f"[red]say which backend with --backend[/red] (1C backends: {', '.join(names) or 'none'})")
            raise typer.Exit(2)
        name = names[0]
    backend = bridge.backend(name)
    if not isinstance(backend, OneCBackend):
        console_err.print(f"[red]backend {name!r} is not a 1C backend[/red]")
        raise typer.Exit(2)
    return backend


@onec_app.command("inspect")
def inspect(
    backend_name: Annotated[str | None, typer.Option("--backend", "-b", help="Backend name (default: the only 1C one).")] = None,
    entity: Annotated[str | None, typer.Option("--entity", "-e", help="Show one entity set's fields (or one enumeration's values).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List what the 1C publication offers: entity sets, fields, types and references, and the
    enumerations with their values (in --json, rows of kind "Enum" after the entity sets).

    With change_detection: exchange_plan, also whether the exchange plan is published and
    has crm-bridge's node (stderr when not, so --json output keeps its shape).

    Example: crm-bridge -c crm-bridge.yaml onec inspect --entity Document_Интерес
    """
    from crm_bridge.cli.common import open_app
    from crm_bridge.errors import did_you_mean

    bridge = open_app()
    try:
        backend = _onec_backend(bridge, backend_name)
        meta = backend.client.metadata()
        feed = backend.check_exchange_plan() if backend.change_feed and entity is None else None
    finally:
        bridge.close()
    if feed is not None and not feed["ok"]:
        console_err.print(f"[red]{feed['detail']}[/red]")
    if entity is None:
        rows = []
        for name in sorted(meta.entity_sets):
            et = meta.entity(name)
            props = et.properties if et else {}
            rows.append({
                "entity_set": name, "kind": name.split("_", 1)[0], "fields": len(props),
                "references": meta.references(name),
                "tabular_sections": [p for p, prop in props.items() if prop.is_collection],
            })
        # Enumerations are no entity sets: a field of one is Edm.String holding a member's name
        # (INTERFACE.md §2), and $metadata lists the members: the values a value map meets.
        enums = [{"entity_set": None, "kind": "Enum", "enum": name, "values": list(values)}
                 for name, values in sorted(meta.enums.items())]
        if as_json:
            emit_json(rows + enums)
            return
        # Names are never split or cut (an entity set is what --entity takes): one per line,
        # no wrapping. The kind is the name's prefix, so no column; on a narrow terminal the
        # tabular sections go too (each is listed as an entity set of its own, <set>_<section>).
        wide = console.width >= 110
        longest = max((len(r["entity_set"]) for r in rows), default=10)
        table = Table(title="Published in the standard OData interface", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("entity set", no_wrap=True, min_width=longest)
        if wide:
            table.add_column("fields", justify="right", no_wrap=True)
        table.add_column("references to", min_width=min(longest, console.width - longest - 4))
        if wide:
            table.add_column("tabular sections")
        for r in rows:
            refs = "\n".join(sorted(set(r["references"].values()))) or "—"
            sections = "\n".join(r["tabular_sections"]) or "—"
            table.add_row(*([r["entity_set"], str(r["fields"]), refs, sections] if wide else [r["entity_set"], refs]))
        console.print(table)
        if enums:
            values = Table(title="Enumerations")
            values.add_column("enumeration", no_wrap=True, min_width=max(len(e["enum"]) for e in enums))
            values.add_column("values (what its fields hold)")  # wraps between values, never inside one
            for e in enums:
                values.add_row(e["enum"], ", ".join(e["values"]) or "—")
            console.print(values)
        if feed is not None and feed["ok"]:
            console.print(f"[green]{feed['detail']}[/green]")
        return
    et = meta.entity(entity)
    if et is None and entity in meta.enums:
        if as_json:
            emit_json({"enum": entity, "values": list(meta.enums[entity])})
        else:
            console.print(f"{entity} (enumeration): " + (", ".join(meta.enums[entity]) or "no values"), markup=False)
        return
    if et is None:
        console_err.print(f"[red]{entity} is not published.{did_you_mean(entity, [*meta.entity_sets, *meta.enums])}[/red] "
                          "Add it to the standard OData interface content in 1C (Администрирование → Настройка стандартного интерфейса OData).")
        raise typer.Exit(1)
    refs = meta.references(entity)
    fields = []
    for name, prop in et.properties.items():
        row_fields = sorted(meta.row_type(prop)) if prop.is_collection else []
        fields.append({"field": name, "type": prop.type, "key": name in et.keys, "reference_to": refs.get(name),
                       # a composite field: a reference to one of several kinds of object, named by <field>_Type
                       "composite": f"{name}_Type" in et.properties, "row_fields": row_fields})
    if as_json:
        emit_json({"entity_set": entity, "keys": list(et.keys), "fields": fields})
        return
    table = Table(title=f"{entity} (key: {', '.join(et.keys)})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("field", no_wrap=True, min_width=max((len(f["field"]) + 2 for f in fields), default=5))
    table.add_column("type")  # a collection's row type is long: it may fold, the field's name may not
    table.add_column("reference to / rows")  # wraps between names
    for f in fields:
        extra = f["reference_to"] or (", ".join(f["row_fields"]) if f["row_fields"] else "") or (
            f"one of several kinds: see {f['field']}_Type" if f["composite"] else "")
        table.add_row(("🔑 " if f["key"] else "") + f["field"], f["type"], extra)
    console.print(table)
