"""Configuration: one YAML file, strict pydantic v2 models, errors with file:line:column.

Core owns the frame (store, schedule, time zone); each addon contributes its own models
through the registry, and core composes them:

* ``registry.add(OneCOData, usage="config.backend", name="onec_odata")`` — a backend kind
  (a model with ``kind: Literal["onec_odata"]``), joined into a discriminated union;
* ``registry.add(SlaConfig, usage="config.section", name="sla")`` — a top-level section.

Only ``load_config`` reads files and ``os.environ``. Validators find the configuration
file's folder in the validation context, ``info.context["base_dir"]`` (absent for text
without a file), to resolve the relative paths a section names. A section whose problem
lies below its own field (a calendar's include entry) raises ``config_problem(loc, ...)``
and the message points at that field's line.
"""

from __future__ import annotations

import logging
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from crm_bridge.errors import ConfigError, did_you_mean
from crm_bridge.registry import Registry
from crm_bridge.yamlfile import Path_, YamlDocument, collector_paused, load_yaml, parse_yaml

__all__ = [
    "BackendBase",
    "BridgeConfig",
    "ConflictPolicy",
    "ConfigErrors",
    "ScheduleConfig",
    "StoreConfig",
    "Strict",
    "TimeZoneName",
    "build_config_model",
    "config_from_text",
    "config_problem",
    "load_config",
    "parse_config",
    "require_backends",
    "validate_document",
]

DEFAULT_FILE = "crm-bridge.yaml"
log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every configuration model: a misspelt key is an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"unknown time zone {name!r}; use an IANA name such as 'Europe/Moscow'"
        raise ValueError(msg) from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_zone)]


ConflictPolicy = Literal["remote_wins", "local_wins", "newest", "manual"]


class BackendBase(Strict):
    """Fields every backend kind has."""

    kind: str
    timezone: TimeZoneName = "Europe/Moscow"
    enabled: bool = True
    # How a field changed on both sides is settled, per model (default remote_wins):
    # e.g. {ticket: manual, customer: remote_wins}. Only fields owned "newest" can conflict.
    conflicts: dict[str, ConflictPolicy] = {}
    # A record deleted (or deletion-marked) in the CRM: "mark" sets the local record's
    # deleted flag; "keep" leaves it as it is. Its binding becomes a tombstone either way.
    on_delete: Literal["mark", "keep"] = "mark"
    # Models whose records created in crm-bridge (intake) are created in this CRM too.
    create_remote: list[str] = []
    # Reconciliation never tombstones more than this share of a model's bindings in one
    # run (a half-empty listing after an outage must not look like mass deletion).
    max_delete_share: float = Field(default=0.1, ge=0.0, le=1.0)
    # shadow: the whole loop runs (import, SLA, routing; every decision lands in the
    # outbox) but nothing is written to this CRM and no customer mail about its records
    # goes out; each write it would make is recorded (`crm-bridge shadow report`). live:
    # writes are sent. Switching shadow -> live sends the decisions still current, once.
    write_back: Literal["live", "shadow"] = "live"
    # Write-back sends this many records' writes at once (each record's writes stay in
    # order, one at a time). 1C counts each session against its licences: the bound is
    # yours to set; 1 sends one write after another.
    max_concurrency: int = Field(default=4, ge=1, le=64)


class StoreConfig(Strict):
    url: str = "sqlite:///crm-bridge.db"
    # SQLite: how long a writer waits for another's write lock before "database is locked".
    # No job holds it while waiting on a remote, so a few seconds are plenty.
    busy_timeout: float = Field(default=30.0, gt=0, le=3600)


_DAY, _WEEK = 86_400, 7 * 86_400


class ScheduleConfig(Strict):
    """How often the embedded scheduler runs each job, in seconds. Each has an upper
    bound: a job that runs less than daily (weekly: reconcile) is a typo, and an interval
    of centuries overflows the scheduler's next run time."""

    pull_every: int = Field(default=60, ge=1, le=_DAY)
    dispatch_every: int = Field(default=15, ge=1, le=_DAY)
    sla_tick_every: int = Field(default=60, ge=1, le=_DAY)
    routing_tick_every: int = Field(default=60, ge=1, le=_DAY)  # queued requests are tried again this often
    notify_every: int = Field(default=15, ge=1, le=_DAY)  # notification rows due are sent this often
    reconcile_every: int = Field(default=3600, ge=1, le=_WEEK)
    # Scale-out: each model's key space is read as this many partitions (streams with their
    # own cursor and lock), so several workers import in parallel. Same value on every worker.
    partitions: int = Field(default=8, ge=1, le=256)
    # Records of finished job runs (`crm-bridge status`) older than this many days are
    # removed by the hourly housekeeping (a run a minute is ~1,400 rows a day per backend).
    keep_runs_days: int = Field(default=30, ge=1, le=3650)


class BridgeConfig(Strict):
    """The frame; the real root model is built by ``build_config_model``."""

    timezone: TimeZoneName = "Europe/Moscow"
    store: StoreConfig = StoreConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    backends: dict[str, Any] = {}
    source: str = Field(default="<defaults>", exclude=True)

    def section(self, name: str) -> Any:
        """An addon's section, e.g. ``config.section("sla")``."""
        return getattr(self, name)

    @model_validator(mode="after")
    def _across_sections(self) -> BridgeConfig:
        """A section that names what another section defines (routing names the ``sla``
        section's calendars) checks those names in ``check_across(config)`` once every
        section is valid; it raises ``config_problem((section, ...), message)`` with the
        full path, so the problem is reported at the naming entry's line."""
        for name in type(self).model_fields:
            check = getattr(getattr(self, name, None), "check_across", None)
            if callable(check):
                check(self)
        return self


def build_config_model(registry: Registry) -> type[BridgeConfig]:
    """The root model: the frame plus every backend kind and section the addons registered."""
    kinds = [c.obj for c in registry.all("config.backend")]
    fields: dict[str, Any] = {}
    if kinds:
        union: Any = kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]  # noqa: UP007
        fields["backends"] = (dict[str, Annotated[union, Field(discriminator="kind")]], {})
    for comp in registry.all("config.section"):
        fields[comp.name] = (comp.obj, comp.obj())
    model: type[BridgeConfig] = create_model("BridgeConfig", __base__=BridgeConfig, **fields)
    return model


class ConfigErrors(ConfigError):
    """Every problem of one file, each with its place, field and hint."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems
        if len(problems) == 1:  # one mistake, one line: it names its own file:line:column
            super().__init__(problems[0])
            return
        super().__init__(f"{file}: {len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems))


_PROBLEM = "config_problem"


def user_folder(value: Path | None, info: ValidationInfo, shipped: str) -> Path | None:
    """A folder of the user's (templates searched before the `shipped` ones), relative to
    the configuration file's folder; a missing one is an error saying how to fix it."""
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    folder = value if value.is_absolute() or base is None else Path(base) / value
    if not folder.is_dir():
        msg = f"{folder}: no such folder; create it (copy the shipped {shipped}) or remove `templates:`"
        raise ValueError(msg)
    return folder.resolve()


def config_problem(loc: Sequence[str | int], message: str) -> PydanticCustomError:
    """The error a validator raises for a problem at `loc` below the field it validates.

    Example (in the ``sla`` section's model validator)::

        raise config_problem(("calendars", "office", "include", 1), "calendars/x.xml: no such file")

    The loader reports it as ``crm-bridge.yaml:9:29: sla.calendars.office.include.1: ...``,
    at the line of that entry rather than of ``sla:``. `message` says what and how to fix,
    without the field path.
    """
    field = ".".join(str(p) for p in loc)
    return PydanticCustomError(_PROBLEM, "{field}: {message}",
                               {"field": field, "message": message, "loc": tuple(loc)})


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _tagged(annotation: Any, key: str | int) -> Any:
    """The member of a discriminated union whose ``kind`` is `key` (pydantic puts the tag in the location)."""
    for member in _members(annotation):
        kind = getattr(member, "model_fields", {}).get("kind")
        if kind is not None and typing.get_args(kind.annotation) == (key,):
            return member
    return None


def _child(annotation: Any, key: str | int) -> Any:
    """The annotation one level down `key`, or None when unknown."""
    members = _members(annotation)
    if len(members) != 1:
        return None
    node = members[0]
    origin = typing.get_origin(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(str(key))
        return field.annotation if field is not None else None
    if origin in (dict, Mapping):
        return typing.get_args(node)[1]
    if origin in (list, tuple, set, frozenset):
        return typing.get_args(node)[0]
    return None


def _locate(root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Path_, Any]:
    """The data path of a pydantic error location and the model that holds its last key."""
    annotation: Any = root
    path: list[str | int] = []
    parent: Any = root
    for key in loc:
        member = _tagged(annotation, key) if annotation is not None else None
        if member is not None:
            annotation = member
            continue
        members = _members(annotation) if annotation is not None else []
        parent = members[0] if len(members) == 1 else None
        annotation = _child(annotation, key) if annotation is not None else None
        path.append(key)
    return tuple(path), parent


_SECRET_WORDS = ("password", "secret", "token", "key")
# Up to the last "@": a password typed into a URL may hold "@" or "/" itself.
_USERINFO = re.compile(r"://\S*@")


def _describe(err: ErrorDetails, root: type[BaseModel], doc: YamlDocument) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    below: tuple[str | int, ...] = tuple(ctx.get("loc", ())) if kind == _PROBLEM else ()
    path, holder = _locate(root, (*err["loc"], *below))
    where = doc.where(path)
    dotted = ".".join(str(p) for p in path) or "(top level)"
    if kind == _PROBLEM:
        return f"{where}: {dotted}: {ctx.get('message', err['msg'])}"
    if kind == "extra_forbidden":
        known = list(getattr(holder, "model_fields", {}))
        known = [k for k in known if k != "source"]
        hint = did_you_mean(str(path[-1]), known)
        return f"{where}: {dotted}: unknown key.{hint} Valid keys here: {', '.join(known)}"
    if kind == "missing":
        return f"{where}: {dotted}: required; add `{path[-1]}: ...`"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", ""))
        expected = str(ctx.get("expected_tags", "")).replace("'", "").split(", ")
        where = doc.where((*path, "kind"))
        return f"{where}: {dotted}.kind: unknown kind {tag!r}.{did_you_mean(tag, expected)} Known kinds: {', '.join(expected)}"
    if kind == "union_tag_not_found":
        return f"{where}: {dotted}: no `kind`; add `kind: <one of the backend kinds>`"
    message = _plain(err)
    if any(word in str(path[-1] if path else "").lower() for word in _SECRET_WORDS):
        return f"{where}: {dotted}: {message}"
    value = err.get("input")
    if isinstance(value, str):
        value = _USERINFO.sub("://***@", value)  # a login and password inside a URL stay out of the message
    shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) and repr(value) not in message else ""
    return f"{where}: {dotted}: {message}{shown}"


_BOUNDS = {"less_than_equal": ("le", "at most"), "greater_than_equal": ("ge", "at least"),
           "less_than": ("lt", "less than"), "greater_than": ("gt", "more than")}
_KINDS = {
    "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number", "float_parsing": "must be a number",
    "float_type": "must be a number", "finite_number": "must be a finite number (not inf or nan)",
    "bool_parsing": "must be true or false", "bool_type": "must be true or false",
    "string_type": "must be text", "dict_type": "must be a mapping of keys (key: value)",
    "model_type": "must be a mapping of keys (key: value)",
    "model_attributes_type": "must be a mapping of keys (key: value)",
    "list_type": "must be a list: [a, b], or one '- item' a line",
    "date_parsing": "must be a date such as 2027-01-31", "date_type": "must be a date such as 2027-01-31",
    "date_from_datetime_parsing": "must be a date such as 2027-01-31",
    "time_parsing": "must be a time such as 09:30", "time_type": "must be a time such as 09:30",
    "datetime_parsing": "must be a date and time such as 2027-01-31T09:30:00+03:00",
    "datetime_type": "must be a date and time such as 2027-01-31T09:30:00+03:00",
    "url_parsing": "must be a URL such as http://host:port/path/",
    "url_type": "must be a URL such as http://host:port/path/",
    "url_scheme": "must be a URL starting with http:// or https://",
    "none_required": "must be empty (null)",
    "time_delta_parsing": "must be a number of seconds, or ISO 8601 such as PT30M",
    "time_delta_type": "must be a number of seconds, or ISO 8601 such as PT30M",
}


def _plain(err: ErrorDetails) -> str:
    """Pydantic's message in the words of this product: what is valid here, without the
    library's phrasing ("Input should be ...") or its internals (error types, URLs)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind in _KINDS:
        return _KINDS[kind]
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        got = err.get("input")
        hint = did_you_mean(str(got), expected) if isinstance(got, str) else ""
        if not expected:
            return err["msg"]
        return f"must be one of {', '.join(expected)}" + (f".{hint}" if hint else "")
    if kind in ("too_short", "too_long"):
        words = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"must have {words} {limit} item{'' if limit == 1 else 's'}"
    if kind in ("string_too_short", "string_too_long"):
        words = "at least" if kind == "string_too_short" else "at most"
        limit = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        return f"must be {words} {limit} character{'' if limit == 1 else 's'} long"
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message.replace("Input should be", "must be").replace("Input is", "is")


def parse_config(doc: YamlDocument, model: type[BridgeConfig], *, base_dir: Path | None = None) -> BridgeConfig:
    """Validate a parsed document against `model`; all problems are reported at once.

    `base_dir` is the configuration file's folder: relative paths in the file are read from
    it (validators get it as ``info.context["base_dir"]``); ``None``: the current folder.
    """
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.file}:1:1: the file must be a mapping of keys (store:, backends:, ...)")
    data = {**data, "source": doc.file}
    store = data.get("store")
    if base_dir is not None and isinstance(store, dict) and isinstance(store.get("url"), str):
        data["store"] = {**store, "url": _anchor_sqlite(store["url"], base_dir)}
    context = {"base_dir": base_dir} if base_dir is not None else None
    return validate_document(doc, model, data, context=context)


def validate_document(doc: YamlDocument, model: type[M], data: Any = None, *,
                      context: Mapping[str, Any] | None = None) -> M:
    """Validate `data` (default: the document's data) against `model`, all errors at once;
    `context` reaches the validators as ``info.context``."""
    try:
        with collector_paused():  # 10,000 policies are 40,000 fresh models: see collector_paused
            return model.model_validate(doc.data if data is None else data,
                                        context=dict(context) if context is not None else None)
    except ValidationError as exc:
        raise ConfigErrors(doc.file, [_describe(e, model, doc) for e in exc.errors()]) from exc


def _anchor_sqlite(url: str, base_dir: Path) -> str:
    """A relative SQLite path is relative to the configuration file, not to the shell."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base_dir / url[len(prefix) :]).resolve())
    return url


def load_config(path: Path, registry: Registry, environ: Mapping[str, str] | None = None, *,
                warn: Callable[[str], None] | None = None) -> BridgeConfig:
    """Read, interpolate and validate the configuration file at `path`.

    `warn` receives each line about a value kept as written that is probably a mistake
    (``$VAR`` for ``${VAR}``); default: logged as a warning. An empty file is an error (a
    file that was meant to hold something: `crm-bridge init` writes a starter).
    """
    doc = load_yaml(path, environ)
    if not doc.positions:  # no value at all: an empty file, or only comments
        raise ConfigError(f"{path}:1:1: the configuration file is empty; write a starter with "
                          f"`crm-bridge init {path} --force` and edit it")
    for line in doc.warnings:
        (warn or _log_warning)(line)
    return parse_config(doc, build_config_model(registry), base_dir=path.parent)


def _log_warning(line: str) -> None:
    log.warning("%s", line, extra={"event": "config.value.suspect"})


def require_backends(config: BridgeConfig) -> None:
    """Raise for a configuration without backends, for the commands that talk to a CRM
    (``check``, ``run``): without one they would succeed and do nothing."""
    if not config.backends:
        raise ConfigError(f"{config.source}:1:1: no backends: there is no CRM to import from or write to; "
                          "add a `backends:` section (the starter from `crm-bridge init` has a 1C:CRM one)")


def config_from_text(text: str, registry: Registry, *, file: str = "<text>", environ: Mapping[str, str] | None = None) -> BridgeConfig:
    """Validate configuration given as YAML text (the demo and tests use this)."""
    return parse_config(parse_yaml(text, file, environ), build_config_model(registry))

