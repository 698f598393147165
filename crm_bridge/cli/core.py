"""Core commands: init, check, addons, db, run, worker."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import (
    check_logging_options,
    console,
    emit_json,
    open_app,
    setup_logging,
    state,
)
from crm_bridge.cli.worker import worker
from crm_bridge.errors import BridgeError, ConfigError, RemoteError

__all__ = ["app"]

app = typer.Typer(
    name="crm-bridge",
    help="SLA due dates, routing, notifications and KPIs beside your CRM (1C:CRM, any REST CRM).\n\n"
    "Quick start: crm-bridge demo",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The store's schema.\n\nExample: crm-bridge db upgrade", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(worker)  # scale-out; crm-bridge run is the embedded mode

JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]


@app.callback()
def _global(
    config: Annotated[Path, typer.Option("--config", "-c", envvar="CRM_BRIDGE_CONFIG", help="Configuration file.")] = Path("crm-bridge.yaml"),
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error.")] = "warning",
    log_format: Annotated[str, typer.Option("--log-format", help="text (for people) or json (one object per line).")] = "text",
) -> None:
    state.config = config
    check_logging_options(log_level, log_format)
    setup_logging(log_level.lower(), log_format.lower())


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
    table = Table("#", "addon", "version", "depends", "summary", title="Addons in load order")
    for r in rows:
        table.add_row(str(r["order"]), r["name"], r["version"], ", ".join(r["depends"]) or "—", r["summary"])
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
    """Validate the configuration, the store and every backend (reach, log in, find the mapped data),
    and say how long the calendar data lasts (a warning "!" does not fail the check).

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
        table = Table("", "check", "detail")
        for r in results:  # a warning ("!") is said but does not fail the check
            mark = "[red]✗[/red]" if not r["ok"] else "[yellow]![/yellow]" if r.get("warning") else "[green]✓[/green]"
            table.add_row(mark, r["what"], r["detail"])
        console.print(table)
    if not ok:
        raise typer.Exit(1)


@app.command()
def run(
    every: Annotated[int | None, typer.Option("--every", help="Seconds between imports (default: schedule.pull_every).", min=1)] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit.")] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the sync loop (import → SLA → write-back) on a schedule until Ctrl-C.

    Example: crm-bridge -c crm-bridge.yaml run --every 30 --metrics-port 9108
    """
    from crm_bridge.runner import Runner, run_cycle

    bridge = open_app(backends=True)
    metrics_server = None
    try:
        if metrics_port is not None:
            from crm_bridge.metrics import serve

            metrics_server = serve(bridge, metrics_port)
        bridge.upgrade_db()
        if once:
            result = run_cycle(bridge)
            failed = _show_cycle(result, as_json=as_json)
            if failed:
                raise typer.Exit(1)
            return

        def show(name: str, result: dict[str, Any]) -> None:
            if as_json:
                emit_json({"job": name, "result": result})
            else:
                console.print(f"[dim]{bridge.clock():%H:%M:%S}[/dim] {name}: {result}")

        def ready() -> None:
            console.print(f"crm-bridge running with {state.config}; Ctrl-C stops it")

        Runner(bridge, pull_every=every, on_result=show).serve(on_ready=ready)
        console.print("stopped cleanly")
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        bridge.close()


def _totals(data: dict[str, Any]) -> Counter[str]:
    """The counts in a job's summary, summed over its models (nested dictionaries)."""
    found: Counter[str] = Counter()
    for key, value in data.items():
        if isinstance(value, dict):
            found.update(_totals(value))
        elif isinstance(value, int) and not isinstance(value, bool) and key != "seconds":
            found[key] += value
    return found


def _show_cycle(result: dict[str, Any], *, as_json: bool) -> list[str]:
    """Print one cycle's results (a table, or JSON); returns what failed, one line each."""
    rows: list[tuple[str, str, str, str]] = []  # job, backend, what it did or why it failed, seconds
    failed: list[str] = []
    for job, summary in result.items():
        seconds = f"{summary.get('seconds', 0):.1f}"
        backends = {k: v for k, v in summary.items() if isinstance(v, dict)}
        for backend, done in backends.items() or [("", summary)]:
            problem = done.get("error") or (f"{done['parked']} outbox rows parked; see crm-bridge jobs list"
                                            if done.get("parked") else None)
            if problem:
                failed.append(f"{job} {backend}: {problem}")
                rows.append((job, backend, f"[red]{escape(str(problem))}[/red]", seconds))
            else:
                counts = ", ".join(f"{k} {v:,}" for k, v in _totals(done).items() if v) or "nothing to do"
                rows.append((job, backend, counts, seconds))
    if as_json:
        emit_json(result)
        return failed
    table = Table("job", "backend", "result", "s", title="One cycle")
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
