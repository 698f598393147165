"""``crm-bridge rest``: the connector file's JSON Schema for editors, and one page of a
resource as the connector sees it (``rest try``).

Imported only when a ``rest`` command runs (``crm_bridge.registry.Lazy``): pydantic, the
connector model and requests load inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from crm_bridge.cli.common import console, emit_json, open_app

if TYPE_CHECKING:
    from adapters.generic_rest.backend import RestBackend

__all__ = ["connector_schema", "envelope", "rest_app", "try_page"]

rest_app = typer.Typer(help="REST CRMs through a connector file: its JSON Schema, a page as the connector reads it.\n\n"
                       "Example: crm-bridge rest try helpline tickets --limit 3",
                       no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
SCHEMA_ID = "https://crm-bridge.example/schemas/rest-connector.json"


def connector_schema() -> dict[str, Any]:
    """The connector file's JSON Schema (draft 2020-12), as pydantic derives it from ``Connector``."""
    from adapters.generic_rest.connector import Connector

    schema = Connector.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "crm-bridge REST connector file", **{k: v for k, v in schema.items() if k != "title"}}


@rest_app.command("schema")
def schema_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the schema to this file instead of printing it.")] = None,
) -> None:
    """Print (or write) the connector file's JSON Schema, for editors' completion and checks.

    VS Code (YAML extension): put `# yaml-language-server: $schema=rest-connector.schema.json`
    on the connector file's first line.

    Example: crm-bridge rest schema --out connectors/rest-connector.schema.json
    """
    text = json.dumps(connector_schema(), ensure_ascii=False, indent=2) + "\n"
    if out is None:
        print(text, end="")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}; on a connector file's first line: # yaml-language-server: $schema={out.name}",
                  highlight=False, soft_wrap=True)


def envelope(body: Any, records_at: tuple[str | int, ...], count: int) -> Any:
    """`body` with its list of records replaced by ``"[N records]"``: the envelope as the
    CRM sent it (counts, next links, cursors), without the page's bulk."""
    if not records_at:
        return f"[{count} records]" if isinstance(body, list) else body
    if isinstance(body, dict):
        step, rest = records_at[0], records_at[1:]
        return {k: envelope(v, rest, count) if k == str(step) else v for k, v in body.items()}
    if isinstance(body, list) and isinstance(records_at[0], int):
        return [envelope(v, records_at[1:], count) if i == records_at[0] else v for i, v in enumerate(body)]
    return body


def _mapped(backend: RestBackend, resource_name: str) -> dict[str, list[str]]:
    """Per mapping file reading `resource_name`: the source fields it reads."""
    from mapping.load import load_mapping

    found: dict[str, list[str]] = {}
    for path in sorted(Path(backend.mappings_dir).glob("*.yaml")):
        spec = load_mapping(path)
        if spec.entity != resource_name:
            continue
        sources: list[str] = []
        for field in spec.fields.values():
            for name in (field.sources or (field.source,)):
                if name and name not in sources:
                    sources.append(name)
        found[spec.model] = sources
    return found


def try_page(backend: RestBackend, resource_name: str, *, limit: int) -> dict[str, Any]:
    """Read the first page of `resource_name` through the connector, writing nothing.

    Returns the address asked (secrets masked), the envelope, the records as the mappings
    see them (flattened: field lists, extracted fields), the next-page decision and, per
    mapping reading this resource, the fields it names that the records lack.

    Raises:
        ConfigError: no such resource (with a did-you-mean).
        RemoteError: the CRM refused or did not answer.
    """
    from adapters.generic_rest.flatten import flatten
    from adapters.generic_rest.paging import PagingStuck, first_page, next_page
    from adapters.generic_rest.select import parse_path
    from crm_bridge.errors import ConfigError, did_you_mean
    from crm_bridge.http import shown

    resources = backend.connector.resources
    resource = resources.get(resource_name)
    if resource is None:
        msg = (f"{backend.name}: the connector {backend.connector.name} has no resource {resource_name!r}."
               f"{did_you_mean(resource_name, list(resources))} Resources: {', '.join(resources)}")
        raise ConfigError(msg)
    client = backend.client
    asked = first_page(resource.paginator)
    body, headers, raw = client.page(resource, asked, what=f"try {resource_name}")
    try:
        following = next_page(resource.paginator, asked, body, headers, len(raw))
        decision: dict[str, Any] = ({"last_page": True} if following is None
                                    else {"params": dict(following.params)} if following.url is None
                                    else {"url": shown(following.url, hide=client.hidden)})
    except PagingStuck as exc:
        decision = {"stuck": str(exc)}
    records = [flatten(r, resource.field_lists, resource.extract) for r in raw]
    mappings = {model: {"reads": sources, "missing": [s for s in sources if records and all(s not in r for r in records)]}
                for model, sources in _mapped(backend, resource_name).items()}
    return {"backend": backend.name, "resource": resource_name,
            "url": shown(client.url(resource.path), hide=client.hidden),
            "params": {**resource.params, **dict(asked.params)}, "envelope": envelope(body, parse_path(resource.records), len(raw)),
            "records_on_page": len(raw), "next": decision, "records": records[:limit], "mappings": mappings}


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 70 else text[:67] + "..."


def _show(found: Mapping[str, Any]) -> None:
    say = console.print
    say(f"[bold]{escape(found['backend'])} {escape(found['resource'])}[/bold]: GET {escape(found['url'])} "
        f"{escape(json.dumps(found['params'], ensure_ascii=False))}", soft_wrap=True, highlight=False)
    say(f"envelope: {escape(json.dumps(found['envelope'], ensure_ascii=False, default=str))}", soft_wrap=True, highlight=False)
    nxt = found["next"]
    decision = ("this is the last page" if nxt.get("last_page") else f"STUCK: {nxt['stuck']}" if "stuck" in nxt
                else f"next page: {nxt.get('url') or json.dumps(nxt['params'], ensure_ascii=False)}")
    say(f"{found['records_on_page']} records on the page; {escape(decision)}", highlight=False)
    for index, record in enumerate(found["records"], 1):
        say(f"\n[bold]record {index}[/bold] (as the mappings see it)", highlight=False)
        for name, value in record.items():
            say(f"  {escape(str(name))} = {escape(_value(value))}", highlight=False, soft_wrap=True)
    for model, seen in found["mappings"].items():
        missing = seen["missing"]
        line = (f"mapping {model}: reads {len(seen['reads'])} fields, all present" if not missing
                else f"mapping {model}: reads {len(seen['reads'])} fields; not in these records: {', '.join(missing)}")
        say(escape(line), style="yellow" if missing else "green", highlight=False, soft_wrap=True)


@rest_app.command("try")
def try_command(
    backend: Annotated[str, typer.Argument(help="A backend of kind rest in the configuration.")],
    resource: Annotated[str, typer.Argument(help="A resource of its connector file (e.g. tickets, crm.deal.list's deals).")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Records to show from the first page.", min=1)] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Read the first page of a resource through the connector and show it: the envelope,
    the records as the mappings see them (custom fields flattened), the next-page decision.

    Reads only; writes nothing to the CRM or the store.

    Example: crm-bridge -c crm-bridge.yaml rest try helpline tickets --limit 3
    """
    from crm_bridge.errors import ConfigError

    bridge = open_app(backends=True)
    try:
        kinds = {n: c.kind for n, c in bridge.config.backends.items()}
        if kinds.get(backend, "rest") != "rest":
            rest = [n for n, k in kinds.items() if k == "rest"]
            msg = (f"{bridge.config.source}: backend {backend!r} is of kind {kinds[backend]}; rest try reads backends of "
                   f"kind rest ({', '.join(rest) or 'none defined'})")
            raise ConfigError(msg)
        found = try_page(bridge.backend(backend), resource, limit=limit)
    finally:
        bridge.close()
    if as_json:
        emit_json(found)
    else:
        _show(found)
