"""Core commands: init, check, addons, db, run, worker, status."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import (
    check_logging_options,
    console,
    console_err,
    emit_json,
    open_app,
    setup_logging,
    state,
)
from crm_bridge.cli.lazy import AddonGroup
from crm_bridge.cli.status import status
from crm_bridge.cli.worker import worker
from crm_bridge.errors import BridgeError, ConfigError, RemoteError, UsageError
from crm_bridge.interactive import set_interactive

__all__ = ["app"]

app = typer.Typer(
    name="crm-bridge",
    help="SLA due dates, routing, notifications and KPIs beside your CRM (1C:CRM, any REST CRM).\n\n"
    "Quick start: crm-bridge demo",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    cls=AddonGroup,  # the addons' commands are imported only when run
)
db_app = typer.Typer(help="The store's schema.\n\nExample: crm-bridge db upgrade", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(worker)  # scale-out; crm-bridge run is the embedded mode
app.command()(status)  # the addons contribute its sections (usage "status.section")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]


#: commands that run unattended: they keep the configured timeouts and retry a silent 1C in place
UNATTENDED = frozenset({"run", "worker", "demo"})


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option("--config", "-c", envvar="CRM_BRIDGE_CONFIG", help="Configuration file.")] = Path("crm-bridge.yaml"),
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error.")] = "warning",
    log_format: Annotated[str, typer.Option("--log-format", help="text (for people) or json (one object per line).")] = "text",
) -> None:
    state.config = config
    check_logging_options(log_level, log_format)
    setup_logging(log_level.lower(), log_format.lower())
    # A person waits for check, inspect, preview…: short timeouts, a silent 1C said at once (crm_bridge.interactive)
    set_interactive(ctx.invoked_subcommand not in UNATTENDED)
    if log_format.lower() == "text" and (console.is_terminal or console_err.is_terminal):
        # On a terminal, bars; elsewhere one log line a minute (crm_bridge.progress). The bars
        # share the console of the command's output when that is the terminal, so what a
        # command prints while a bar runs (the run loop's lines) goes above the bar.
        from crm_bridge import progress
        from crm_bridge.cli.progressbar import RichReporter

        progress.use(RichReporter(console if console.is_terminal else console_err))


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter file.")] = Path("crm-bridge.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter configuration.

    Example: crm-bridge init && crm-bridge check
    """
    if path.exists() and not force:
        console.print(f"[yellow]{path} exists[/yellow]; use --force to overwrite it")
        raise typer.Exit(1)
    text = resources.files("crm_bridge").joinpath("data/crm-bridge.example.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}; edit it, then run [bold]crm-bridge check[/bold]")


@app.command()
def addons(as_json: JsonOpt = False) -> None:
    """List the loaded addons in load order, with versions and dependencies.

    Example: crm-bridge addons --json
    """
    rows: list[dict[str, Any]] = [
        {"order": i + 1, "name": a.name, "version": a.manifest.version, "depends": a.manifest.depends,
         "summary": a.manifest.summary, "origin": a.origin}
        for i, a in enumerate(state.addons)
    ]
    if as_json:
        emit_json(rows)
        return
    # Names are never cut; the summary wraps between words. The rows are in load order (no
    # number column), and on a narrow terminal the dependencies go (--json has them).
    wide = console.width >= 100
    table = Table(title="Addons in load order")
    table.add_column("addon", no_wrap=True)
    table.add_column("version", no_wrap=True)
    if wide:
        table.add_column("depends")
    table.add_column("summary", ratio=1)
    for r in rows:
        depends = [", ".join(r["depends"]) or "—"] if wide else []
        table.add_row(r["name"], r["version"], *depends, r["summary"])
    console.print(table)


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Create or migrate the store's tables to the newest schema.

    On PostgreSQL this also installs (or migrates) the tables of the scale-out queue
    that crm-bridge worker uses. Safe to run from several processes at once.

    Example: crm-bridge -c crm-bridge.yaml db upgrade
    """
    from crm_bridge.queue import prepare_store
    from crm_bridge.store.migrate import current_heads

    bridge = open_app()
    try:
        queue = prepare_store(bridge)  # PostgreSQL: the scale-out queue's tables too
        heads = sorted(current_heads(bridge.store))
    finally:
        bridge.close()
    if as_json:
        emit_json({"store": bridge.store.url, "heads": heads, "queue": queue})
    else:
        console.print(f"store {bridge.store.url} is at {', '.join(heads)}")
        if queue is not None:
            console.print(f"queue schema: {queue}")


@app.command()
def check(as_json: JsonOpt = False) -> None:
    """Validate the configuration, the store and every backend.

    Reaches and logs in to each backend, finds the mapped data, and says how long the
    calendar data lasts (a warning "!" does not fail the check).

    Example: crm-bridge -c crm-bridge.yaml check
    """
    from crm_bridge.store.migrate import pending

    try:
        bridge = open_app(backends=True)
    except ConfigError as exc:
        if not as_json:
            raise
        emit_json({"ok": False, "checks": [{"what": "configuration", "ok": False, "detail": str(exc)}]})
        raise typer.Exit(2) from exc
    results: list[dict[str, Any]] = [{"what": "configuration", "ok": True, "detail": str(state.config)}]
    try:
        try:
            todo = pending(bridge.store, [a.path for a in bridge.addons])
            results.append({"what": "store", "ok": not todo, "detail": f"{bridge.store.url}: " + (
                f"{len(todo)} migration(s) pending; run crm-bridge db upgrade" if todo else "schema current")})
        except Exception as exc:  # any driver error: report it as a failed check
            results.append({"what": "store", "ok": False, "detail": f"{bridge.store.url}: {exc}"})
        extra = bridge.registry.all("check.backend")  # the addons' own findings (mapping files)
        for name in bridge.config.backends:
            try:
                for line in bridge.backend(name).check():
                    results.append({"what": f"backend {name}", "ok": line["ok"], "detail": line["detail"]})
            except (RemoteError, BridgeError) as exc:
                results.append({"what": f"backend {name}", "ok": False,
                                "detail": exc.once if isinstance(exc, RemoteError) else str(exc)})
            for comp in extra:  # file checks: said even when the backend cannot be reached
                try:
                    results += [{"what": f"{comp.name} of {name}", **line} for line in comp.obj(bridge, name)]
                except BridgeError as exc:
                    results.append({"what": f"{comp.name} of {name}", "ok": False, "detail": str(exc)})
        for comp in bridge.registry.all("check.app"):  # the addons' findings on the whole app (calendar data)
            try:
                results += comp.obj(bridge)
            except BridgeError as exc:
                results.append({"what": comp.name, "ok": False, "detail": str(exc)})
    finally:
        bridge.close()
    ok = all(r["ok"] for r in results)
    if as_json:
        emit_json({"ok": ok, "checks": results})
    else:
        table = Table("", "check", "detail")  # the detail wraps between words
        table.columns[1].no_wrap = True
        for r in results:  # a warning ("!") is said but does not fail the check
            mark = "[red]✗[/red]" if not r["ok"] else "[yellow]![/yellow]" if r.get("warning") else "[green]✓[/green]"
            table.add_row(mark, r["what"], r["detail"])
        console.print(table)
    if not ok:
        raise typer.Exit(1)


EXIT_DONE, EXIT_FAILED, EXIT_BUDGET = 0, 1, 4
DEFAULT_BUDGET = 900  # seconds: a first write-back of tens of thousands of rows fits; a cron job still ends


@app.command(epilog="Exit codes with --once: 0 the cycle is done (nothing due is left); 1 a job failed or needs "
             "a person (the line says which); 2 the configuration is wrong; 3 a backend could not be reached at "
             "start; 4 stopped at the --budget with write-back rows pending (run again, or raise --budget).")
def run(
    every: Annotated[int | None, typer.Option("--every", help="Seconds between imports (default: schedule.pull_every).", min=1)] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle, drain the write-back, and exit (see the exit codes).")] = False,
    budget: Annotated[int, typer.Option("--budget", help="With --once: seconds the cycle may take before it stops "
                                        "and says what is left (default 900; 0: one write-back batch).", min=0)] = DEFAULT_BUDGET,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port.")] = None,
    web_port: Annotated[int | None, typer.Option("--web", help="Serve the web pages (dashboard, cabinet, /healthz, "
                                                 "/metrics) on this port, on web.host.", min=0, max=65535)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: the cycle's summary with --once, else one object per job run (JSON lines).")] = False,
) -> None:
    """Run the sync loop (import → SLA → routing → write-back → notify) until Ctrl-C.

    Prints one line per job and backend, in the configured time zone; --once runs one
    cycle for cron (see the exit codes below).

    Example: crm-bridge -c crm-bridge.yaml run --every 30 --metrics-port 9108 --web 8080
    """
    from zoneinfo import ZoneInfo

    from crm_bridge.cli.runline import job_json, job_lines
    from crm_bridge.runner import Runner, pending_at_budget, run_cycle

    bridge = open_app(backends=True)
    metrics_server = web_server = None
    # What addons run beside the loop (usage="run.service": factory(app) -> an object with
    # .close(), or None): intake's SMTP receiver, the REST webhook listener. Started before
    # the first cycle, so a port already taken stops `run` at once; closed after the last.
    services: list[Any] = []
    try:
        if metrics_port is not None:
            from crm_bridge.metrics import serve

            metrics_server = serve(bridge, metrics_port)
        if web_port is not None:  # the web addon's server (core names no addon: found by its registration)
            found = bridge.registry.all("web.server")
            if not found:
                raise UsageError("--web: no web addon is installed (it registers the `web.server` component)")
            web_server = found[0].obj(bridge, web_port)
            (console_err if as_json else console).print(f"web pages at {web_server.url}/dashboard", highlight=False,
                                                        soft_wrap=True)  # with --json, stdout stays JSON
        bridge.upgrade_db()
        if not once:
            services = [s for comp in bridge.registry.all("run.service") if (s := comp.obj(bridge)) is not None]
        if once:
            result = run_cycle(bridge, budget=budget)
            failed = _show_cycle(result, as_json=as_json)
            left = pending_at_budget(result)
            if left:
                say = console_err if as_json else console
                say.print(f"stopped at the {budget:,} s budget with {left:,} write-back rows pending; "
                          "run again or raise --budget", highlight=False, markup=False, soft_wrap=True)
            if failed:
                raise typer.Exit(EXIT_FAILED)
            if left:
                raise typer.Exit(EXIT_BUDGET)
            return
        zone = ZoneInfo(bridge.config.timezone)

        def show(name: str, result: dict[str, Any]) -> None:
            at = bridge.clock()
            if as_json:
                print(job_json(name, result, at=at, zone=zone), flush=True)
            else:
                for line in job_lines(name, result, at=at, zone=zone):
                    console.print(line, highlight=False, markup=False)  # wrapped between words if long

        def ready() -> None:
            console.print(f"crm-bridge running with {state.config}; Ctrl-C stops it", highlight=False)

        Runner(bridge, pull_every=every, on_result=show).serve(on_ready=ready)
        console.print("stopped cleanly")
    finally:
        for service in reversed(services):
            service.close()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        if web_server is not None:
            web_server.stop()
        bridge.close()


def _show_cycle(result: dict[str, Any], *, as_json: bool) -> list[str]:
    """Print one cycle's results (a table that fits 80 columns, or JSON); returns what
    failed, one line each."""
    from crm_bridge.cli.runline import by_backend, counts_text, problem

    rows: list[tuple[str, str, str, str]] = []  # job, backend, what it did or why it failed, seconds
    failed: list[str] = []
    for job, summary in result.items():
        seconds = f"{summary.get('seconds', 0):.1f}"
        for backend, done in by_backend(summary):
            why = problem(done)
            if why:
                failed.append(f"{job}: {why}" if backend == "-" else f"{job} {backend}: {why}")
                rows.append((job, backend, f"[red]{escape(why)}[/red]", seconds))
            else:
                rows.append((job, backend, counts_text(done), seconds))
    if as_json:
        emit_json(result)
        return failed
    table = Table(title="One cycle")
    table.add_column("job", no_wrap=True)
    table.add_column("backend", no_wrap=True)
    table.add_column("result", ratio=1)  # wraps between words
    table.add_column("s", justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return failed


@app.command()
def metrics() -> None:
    """Print the Prometheus metrics once (for a node_exporter textfile, or a quick look).

    Example: crm-bridge -c crm-bridge.yaml metrics > /var/lib/node_exporter/crm_bridge.prom
    """
    from crm_bridge.metrics import render

    bridge = open_app()
    try:
        print(render(bridge).decode(), end="")
    finally:
        bridge.close()
