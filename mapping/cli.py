"""``crm-bridge mapping check | preview | suggest``: the integrator's loop.

    crm-bridge mapping suggest --backend crm --model customer --out mappings/customer.yaml
    (edit)
    crm-bridge mapping check
    crm-bridge mapping preview --backend crm --model customer --limit 20
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.errors import ConfigError, RemoteError, RemoteRejected, did_you_mean

if TYPE_CHECKING:  # imported where used: `crm-bridge mapping --help` loads no pydantic, no mapping engine
    from mapping.preview import PreviewRow
    from mapping.spec import MappingFile, MappingSpec
    from mapping.suggest import Draft

__all__ = ["mapping_app"]

mapping_app = typer.Typer(help="Check, preview and suggest field mappings (the files in a backend's `mappings:` folder).\n\n"
                          "Example: crm-bridge mapping check",
                          no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
BackendOpt = Annotated[str, typer.Option("--backend", "-b", help="Backend name from the configuration.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Canonical model: customer, contact, agent, team, ticket.")]


@contextmanager
def _app() -> Iterator[Any]:
    bridge = open_app()
    try:
        yield bridge
    finally:
        bridge.close()


def _siblings(folder: Path, files: dict[Path, MappingFile]) -> dict[str, MappingSpec]:
    """Model -> spec of every readable mapping in `folder` (for references and cycles)."""
    from mapping.spec import read_mapping

    found: dict[str, MappingSpec] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            mf = files.get(path) or read_mapping(path)
        except ConfigError:
            continue
        if mf.spec is not None:
            found.setdefault(mf.spec.model, mf.spec)
    return found


def _readable(spec: MappingSpec, entities: dict[str, dict[str, str]] | None) -> MappingSpec | None:
    """`spec` without the fields the remote does not publish, so a sample can be read."""
    if entities is None:
        return spec
    published = entities.get(spec.entity)
    if published is None:
        return None
    fields = {n: f for n, f in spec.fields.items()
              if all(i in published for i in f.inputs) and (f.lookup is None or f.lookup.field in entities.get(f.lookup.entity, {}))}
    children = {n: c for n, c in spec.children.items() if c.source in published}
    return spec.model_copy(update={"fields": fields, "children": children})


def _sample(backend: Any, spec: MappingSpec | None, entities: dict[str, dict[str, str]] | None, size: int) -> list[dict[str, Any]] | None:
    readable = _readable(spec, entities) if spec is not None and size > 0 else None
    if readable is None or not hasattr(backend, "read"):
        return None
    records: list[dict[str, Any]] = []
    pages = backend.read(readable)
    try:
        for page in pages:
            records += [dict(r.values) for r in page[: size - len(records)]]
            if len(records) >= size:
                break
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()  # stop the backend's paging: nothing more is read
    return records


def _publishes(backend: Any) -> bool:
    """Whether `backend` publishes its fields (1C's ``$metadata``, an OpenAPI document). One
    that guesses them from a first page (``describes_by_sample``: a REST CRM without a
    document) is checked against each mapping's own sample instead: a listing that is empty
    or a field empty on every record of a page proves nothing missing."""
    return hasattr(backend, "describe") and not getattr(backend, "describes_by_sample", False)


def _check_backend(bridge: Any, name: str, file: Path | None, *, sample: int, offline: bool) -> list[dict[str, Any]]:
    from mapping.spec import read_mapping
    from mapping.validate import RemoteFacts, check_mapping

    backend = bridge.backend(name)
    config = bridge.config.backends[name]
    folder = file.parent if file is not None else Path(backend.mappings_dir)
    paths = [file] if file is not None else sorted(folder.glob("*.yaml"))
    results: list[dict[str, Any]] = []
    if file is None:
        for model in getattr(config, "models", []):
            path = folder / f"{model}.yaml"
            if not path.is_file():
                results.append({"backend": name, "file": str(path), "problems": [
                    f"{bridge.config.source}: backends.{name}.models: {model} has no mapping file ({path}); create it with "
                    f"`crm-bridge mapping suggest --backend {name} --model {model} --out {path}`"]})
    try:
        entities = None if offline or not _publishes(backend) else backend.describe()
        references = None if offline or not hasattr(backend, "describe_references") else backend.describe_references()
        lengths = None if offline or not hasattr(backend, "describe_lengths") else backend.describe_lengths()
        files: dict[Path, MappingFile] = {}
        for path in paths:  # a file that is not even YAML is reported alone; the others are checked
            try:
                files[path] = read_mapping(path)
            except ConfigError as exc:
                results.append({"backend": name, "file": str(path), "problems": [str(exc)]})
        siblings = _siblings(folder, files)
        for path, mf in files.items():
            records = None if offline else _sample(backend, mf.spec, entities, sample)
            facts = RemoteFacts(entities=entities, references=references, sample=records, lengths=lengths,
                                origin=f"backend {name!r}", decided=decided_fields(bridge))
            results.append({"backend": name, "file": str(path), "problems": check_mapping(mf, facts=facts, siblings=siblings)})
    except RemoteError as exc:
        results.append({"backend": name, "file": str(folder), "problems": [
            f"backend {name!r}: {exc}; the mappings were not checked against it (use --offline for the file checks only)"]})
    return results


def decided_fields(bridge: Any) -> dict[str, frozenset[str]]:
    """Model -> the fields the installed addons decide and write back (``registry.add(fields,
    usage="model.decided", model="ticket")``): the SLA addon's due dates and state, …"""
    found: dict[str, frozenset[str]] = {}
    for comp in bridge.registry.all("model.decided"):
        if comp.model is not None:
            found[comp.model] = found.get(comp.model, frozenset()) | frozenset(comp.obj)
    return found


#: records ``crm-bridge check`` reads per mapping to find value-map gaps (one page)
CHECK_SAMPLE = 50


def _sample_gaps(bridge: Any, name: str, size: int) -> dict[str, list[str]]:
    """File -> what a sample of the backend's records shows wrong with its mapping
    (value-map gaps, values a transform or the model refuses), each with file:line.
    Nothing when the backend cannot be read: its own check says why."""
    from crm_bridge.model import MODELS
    from mapping.facts import Problem
    from mapping.sample import sample_problems
    from mapping.spec import read_mapping

    backend = bridge.backend(name)
    if not hasattr(backend, "read"):
        return {}
    found: dict[str, list[str]] = {}
    try:
        entities = backend.describe() if _publishes(backend) else None
        for path in sorted(Path(backend.mappings_dir).glob("*.yaml")):
            try:
                mf = read_mapping(path)
            except ConfigError:
                continue  # the file check names what is wrong with it
            readable = _readable(mf.spec, entities) if mf.spec is not None and mf.spec.model in MODELS else None
            records = _sample(backend, readable, entities, size) if readable is not None else None
            if readable is None or not records:
                continue  # a field or entity 1C lacks: the backend's check names it
            gaps = [str(Problem(mf.doc.where(where), ".".join(map(str, where)), message))
                    for where, message in sample_problems(readable, records)]
            if gaps:
                found[str(path)] = gaps
    except (RemoteError, ConfigError):
        return {}
    return found


def check_findings(bridge: Any, name: str) -> list[dict[str, Any]]:
    """What ``crm-bridge check`` adds per backend: the problems in its mapping files that
    the file checks find (a ``ref:`` to a model with no mapping, a transform that does not
    exist, …) and those a sample of the backend's records shows (a value the value map
    does not cover, which the import would refuse), one finding per file with problems;
    what 1C publishes is the backend's own check. Nothing when every file is sound."""
    found = []
    gaps = _sample_gaps(bridge, name, CHECK_SAMPLE)
    for result in _check_backend(bridge, name, None, sample=0, offline=True):
        problems = result["problems"] + gaps.get(result["file"], [])
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            found.append({"ok": False, "detail": f"{shown} (all of them: crm-bridge mapping check)"})  # each names file:line
    return found


@mapping_app.command("check")
def check(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Check this one file (default: every backend's mappings).")] = None,
    backend: Annotated[str | None, typer.Option("--backend", "-b", help="Check against this backend's metadata and records.")] = None,
    sample: Annotated[int, typer.Option("--sample", help="Remote records read to find value-map gaps (0: none).", min=0)] = 50,
    offline: Annotated[bool, typer.Option("--offline", help="Do not contact any backend: file checks only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate mapping files: every error at once, each with file:line:column and a fix.

    Without options: every backend's mapping files, against the backend's metadata and a sample of its records. With --file alone: that file, with no backend (no configuration needed). Exits 1 when anything is wrong.

    Example: crm-bridge mapping check --file mappings/ticket.yaml --backend crm
    """
    from mapping.lengths import is_warning
    from mapping.spec import read_mapping
    from mapping.validate import check_mapping

    results: list[dict[str, Any]]
    if file is not None and backend is None:
        found = read_mapping(file)
        results = [{"backend": None, "file": str(file), "problems": check_mapping(found, siblings=_siblings(file.parent, {file: found}))}]
    else:
        with _app() as bridge:
            names = [backend] if backend else list(bridge.config.backends)
            results = [r for name in names for r in _check_backend(bridge, name, file, sample=sample, offline=offline)]
    count = sum(not is_warning(p) for r in results for p in r["problems"])  # warnings are shown, not failed
    if as_json:
        emit_json({"ok": count == 0, "problems": count, "warnings": sum(len(r["problems"]) for r in results) - count,
                   "files": results})
    else:
        for r in results:
            failing = any(not is_warning(p) for p in r["problems"])
            mark = Text("✗ ", style="red") if failing else Text("! ", style="yellow") if r["problems"] else Text("✓ ", style="green")
            console.print(mark + Text(f"{r['file']}" + (f"  (backend {r['backend']})" if r["backend"] else "")))
            for problem in r["problems"]:
                console.print(Text(f"  {problem}", style="yellow" if is_warning(problem) else "red"), soft_wrap=True)
        files = len(results)
        console.print(f"{count} problem{'s' if count != 1 else ''} in {files} file{'s' if files != 1 else ''}" if count
                      else f"all {files} mapping file{'s' if files != 1 else ''} OK", style="red" if count else "green")
    if count:
        raise typer.Exit(1)


def _show(value: Any) -> Text:
    from mapping.preview import RemoteRef

    if value is None:
        return Text("∅", style="dim")
    if isinstance(value, RemoteRef):
        return Text(str(value), style="cyan")
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return Text(text if len(text) <= 48 else text[:45] + "...")


def _print_row(spec: MappingSpec, row: PreviewRow) -> None:
    table = Table("remote field", "remote value", "", "canonical", "value", "write-back", title=f"{spec.entity} {row.id}",
                  title_justify="left", show_edge=False)
    for name, fs in spec.fields.items():
        inputs = fs.inputs
        remote = Text(", ".join(inputs) or "(constant)")
        value = Text(" | ").join(_show(row.source.get(i)) for i in inputs) if inputs else Text("")
        if name in row.canonical:
            canonical = _show(row.canonical[name])
        else:
            canonical = Text("decided by crm-bridge" if fs.owner == "local" else "(not imported)", style="dim")
        back = _show(row.write_back[fs.source]) if fs.source in row.write_back and fs.owner != "remote" else Text("")
        table.add_row(remote, value, "→", name, canonical, back)
    for child in spec.children:
        table.add_row(spec.children[child].source, Text("rows", style="dim"), "→", child, Text(str(len(row.canonical.get(child) or []))) + " rows", "")
    console.print(table)
    for problem in row.problems:
        console.print(Text(f"  {spec.model} would refuse it: {problem}", style="red"))


@mapping_app.command("preview")
def preview_command(
    backend: BackendOpt,
    model: ModelOpt,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Records to read.", min=1)] = 20,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Mapping file (default: the backend's <model>.yaml).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show real remote records next to their canonical fields and what a write-back would send.

    Reads only; writes nothing to the CRM or the store.

    Example: crm-bridge mapping preview --backend crm --model ticket --limit 5
    """
    from mapping.load import load_mapping
    from mapping.preview import preview

    with _app() as bridge:
        source = bridge.backend(backend)
        path = file or Path(source.mappings_dir) / f"{model}.yaml"
        spec = load_mapping(path)
        if spec.model != model:
            raise ConfigError(f"{path}: maps model {spec.model!r}, not {model!r}; pass --model {spec.model} or another --file")
        try:
            rows = preview(source, spec, limit=limit, timezone=bridge.config.backends[backend].timezone)
        except RemoteRejected as exc:
            _explain_refusal(source, backend, path, exc)
            raise
    if as_json:
        emit_json({"backend": backend, "model": model, "file": str(path), "records": [r.as_json() for r in rows]})
        return
    for row in rows:
        _print_row(spec, row)
    refused = sum(1 for r in rows if r.problems)
    console.print(f"{len(rows)} records of {spec.entity} previewed with {path}; {refused} would be refused; nothing was written",
                  style="red" if refused else "green")


def _explain_refusal(source: Any, backend: str, path: Path, exc: RemoteRejected) -> None:
    """A read the remote refused because the mapping names what it does not publish (1C:
    "HTTP 400 ... Неправильный адрес ресурса или параметр запроса: 'Темаа'") is said as
    ``mapping check`` says it: the file:line:column of the name, and the published name
    meant. Raises ConfigErrors when the file has such problems; returns when it has none
    (the refusal is something else, and is raised as it is)."""
    from crm_bridge.config import ConfigErrors
    from mapping.refusal import refusal_problems

    problems = refusal_problems(source, backend, path)
    if problems:
        raise ConfigErrors(str(path), problems) from exc


def _draft(bridge: Any, backend: str, model: str, entity: str | None, sample: int) -> tuple[Draft, str]:
    from mapping.spec import MappingSpec, mapping_from_text
    from mapping.suggest import schema_from_sample, suggest

    source = bridge.backend(backend)
    zone = bridge.config.backends[backend].timezone
    if hasattr(source, "describe"):
        schema, origin = source.describe(), getattr(source, "described_by", "metadata")
    elif entity is not None:
        probe = MappingSpec(model=model, entity=entity, fields={})
        records = _sample(source, probe, None, max(sample, 1)) or []
        schema, origin = schema_from_sample(entity, records), f"{len(records)} sample records"
    else:
        raise ConfigError(f"backend {backend!r} publishes no metadata; name the resource with --entity to read sample records")
    mapped = getattr(bridge.config.backends[backend], "models", None)
    draft = suggest(model, schema, entity=entity, timezone=zone, mapped=mapped)
    enums = {s.field: s.spec for s in draft.fields if s.spec is not None and "map" in s.spec and "default" in s.spec}
    if enums and draft.entity and sample:
        probe_text = f"model: {model}\nentity: {draft.entity}\n" + "".join(
            f"{attr}: {name}\n" for attr, name in draft.record.items()) + "fields:\n" + "".join(
            f"  {name}: {{from: {spec['from']}" + (f", lookup: {{entity: {spec['lookup']['entity']}}}" if "lookup" in spec else "") + "}\n"
            for name, spec in enums.items())
        probe_file = mapping_from_text(probe_text)
        try:
            records = _sample(source, probe_file.spec, schema, sample) or []
        except RemoteError:
            records = []
        if records:
            # only the fields read: one 1C does not publish is absent from the records, not empty
            values = {spec["from"]: [r[spec["from"]] for r in records if spec["from"] in r] for spec in enums.values()}
            draft = suggest(model, schema, entity=entity, values=values, timezone=zone, mapped=mapped)
            origin += f" and {len(records)} sample records"
    return draft, origin


@mapping_app.command("suggest")
def suggest_command(
    backend: BackendOpt,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Canonical model: customer, contact, agent, team, ticket.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Suggest every model the backend's `models:` lists, one file each in the --out folder.")] = False,
    entity: Annotated[str | None, typer.Option("--entity", "-e", help="Remote entity set (default: the best match).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the YAML here (default: stdout); with --all, a folder.")] = None,
    sample: Annotated[int, typer.Option("--sample", help="Records read to propose value maps (0: none).", min=0)] = 200,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Propose a starter mapping from the remote metadata, as commented YAML with a confidence per line.

    Matches remote fields by name, type and Russian/English synonyms (ИНН → tax_id, Наименование/Description → name, Телефон → phone, ...).
    A request refers to its customer, contact and agent, so a backend needs a file for each
    model it lists: --all writes them together; one model at a time says which ones are still missing.

    Example: crm-bridge mapping suggest --backend crm --all --out mappings/crm
    """
    if every:
        _suggest_all(backend, out, sample, force=force, as_json=as_json, model=model, entity=entity)
        return
    if model is None:
        raise ConfigError("name the model with --model (customer, contact, agent, team, ticket), or suggest "
                          "every model the backend needs with --all --out <folder>")
    if out is not None and out.exists() and not force:  # before 1C is asked, and before anything is printed
        raise ConfigError(f"{out} exists; pass --force to overwrite it, or choose another --out")
    with _app() as bridge:
        draft, origin = _draft(bridge, backend, model, entity, sample)
        needed = [m for m in getattr(bridge.config.backends[backend], "models", None) or [] if m != model]
    target = out.as_posix() if out else f"<{model}.yaml>"
    header = [f"Starter mapping for {model} from backend {backend} ({origin}), by `crm-bridge mapping suggest`.",
              "Each line ends with its confidence (0-1) and why; commented lines found no good candidate.",
              f"Review it, then run: crm-bridge mapping check --file {target} --backend {backend}"]
    text = draft.to_yaml(header)
    if as_json:
        emit_json(draft.as_json() | {"yaml": text})
    elif out is None:
        sys.stdout.write(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        if not as_json:
            console.print(f"wrote {out}; edit it, then: crm-bridge mapping check --file {out} --backend {backend}",
                          markup=False, highlight=False, soft_wrap=True)
    missing = [m for m in needed if out is None or not (out.parent / f"{m}.yaml").exists()]
    if missing and not as_json:
        folder = out.parent.as_posix() if out is not None else "<folder>"
        console_err.print(f"backend {backend} also needs {', '.join(f'{m}.yaml' for m in missing)} (its models: list); "
                          f"suggest them too: crm-bridge mapping suggest --backend {backend} --all --out {folder}",
                          markup=False, highlight=False, soft_wrap=True)


def _suggest_all(backend: str, out: Path | None, sample: int, *, force: bool, as_json: bool,
                 model: str | None, entity: str | None) -> None:
    """One starter file per model the backend lists, written into the folder `out` (default:
    the backend's `mappings:` folder). Existing files are kept unless `force`: said before
    1C is asked, so nothing is half written."""
    if model is not None or entity is not None:
        raise ConfigError("--all suggests every model of the backend: leave out --model and --entity")
    with _app() as bridge:
        config = bridge.config.backends.get(backend)
        if config is None:
            known = ", ".join(bridge.config.backends) or "none"
            raise ConfigError(f"no backend {backend!r}.{did_you_mean(backend, list(bridge.config.backends))} Defined: {known}.")
        models: list[str] = list(getattr(config, "models", None) or [])
        folder = out or (Path(config.mappings) if getattr(config, "mappings", None) else None)
        if folder is None:
            raise ConfigError(f"--all writes one file per model into a folder: give it with --out (e.g. --out "
                              f"mappings/{backend}) and set `mappings:` to it on backend {backend}")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder} is a file; with --all, --out names a folder")
        taken = [folder / f"{m}.yaml" for m in models if (folder / f"{m}.yaml").exists()]
        if taken and not force:
            raise ConfigError(f"{', '.join(p.as_posix() for p in taken)} {'exists' if len(taken) == 1 else 'exist'}; pass --force to overwrite them, "
                              "or choose another --out folder")
        drafts = {m: _draft(bridge, backend, m, None, sample) for m in models}
    folder.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    for m, (draft, origin) in drafts.items():
        path = folder / f"{m}.yaml"
        header = [f"Starter mapping for {m} from backend {backend} ({origin}), by `crm-bridge mapping suggest --all`.",
                  "Each line ends with its confidence (0-1) and why; commented lines found no good candidate.",
                  f"Review it, then run: crm-bridge mapping check --backend {backend}"]
        path.write_text(draft.to_yaml(header), encoding="utf-8")
        written.append({"model": m, "file": path.as_posix(), "entity": draft.entity})
        if not as_json:
            console.print(f"wrote {path.as_posix()} ({m} from {draft.entity or 'no entity set found'})",
                          markup=False, highlight=False, soft_wrap=True)
    if as_json:
        emit_json({"backend": backend, "folder": folder.as_posix(), "files": written})
        return
    same = getattr(config, "mappings", None) and Path(config.mappings).resolve() == folder.resolve()
    hint = "" if same else f" and set `mappings: {folder.as_posix()}` on backend {backend} in the configuration"
    console.print(f"edit them{hint}, then: crm-bridge mapping check", markup=False, highlight=False, soft_wrap=True)
