"""The mapping file: how one remote entity maps to one canonical model, both directions.

```yaml
model: ticket                 # canonical model: customer, contact, agent, team, ticket
entity: Document_Интерес      # remote entity set / resource
key: Ref_Key                  # remote id field
version: DataVersion          # opaque remote version (optional)
deleted: DeletionMark         # deletion flag (optional)
changed_at: ДатаИзменения     # remote time of the last change (optional; `owner: newest` merges)
changed_by: Автор             # remote field naming who changed the record last (optional)
timezone: Europe/Moscow       # zone of naive dates parsed by the `date` transform
folders: skip                 # folders of a hierarchical catalog (1C IsFolder): skip | include
exclude:                      # records not imported: any entry whose fields all match
  - {Служебный: true}                         # 1C's service users
  - {Description: [Администратор, Робот]}     # a list: any of these values
fields:
  number: Number                                   # shorthand: direct, owned by the remote
  subject: {from: Тема, transform: [strip]}
  type:
    from: ВидОбращения
    map: {ТехническаяПроблема: technical_problem}  # exact values first
    regex: {"(?i)^консульт": consultation}         # then patterns, in order
    default: other                                 # keep | ignore | a value
  customer_id: {from: Партнер_Key, ref: customer}  # resolved through the bindings
  title: {from: [Number, Тема], transform: [{template: "{Number}: {Тема}"}]}
  channel: {transform: [{const: phone}]}           # no source: a constant
  created_at: {from: Date, only_create: true}      # imported once, never updated
  resolution_due: {from: СрокИсполнения, owner: local}   # decided here, written back
children:                     # tabular sections / contact lists, matched on `key`
  co_executors:               # a list field of the canonical model
    from: Соисполнители
    key: agent_id
    owner: newest             # imported, and written back whole (a PATCH replaces the section)
    fixed: {Роль: Соисполнитель}   # written on every row sent
    fields:
      agent_id: {from: Пользователь_Key, ref: agent}
```

A child is stored in the canonical list field it is named after: rows of one field as
the list of that field's values (``co_executors: [3, 7]``), rows of several as row dicts.

``folders`` and ``exclude`` say which remote records are not records of the model: a
folder of a hierarchical catalog, 1C's service user. They never become bindings; the sync
engine applies ``exclude`` to every record it reads, and a backend may also ask its server
to leave them out (1C: ``$filter``). A bound record that becomes excluded later is handled
as one deleted in the CRM.

Field ownership: ``remote`` fields are imported and never written; ``local`` fields are
decided by crm-bridge and written back (their remote value is not imported); ``newest``
fields go both ways, the most recent change winning (the sync engine merges).

``read_mapping`` never raises for what is inside the file: it returns the parsed spec (or
None) and every problem with ``file:line:column``; ``mapping.load.load_mapping`` raises them at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from crm_bridge.config import ConfigErrors, validate_document
from crm_bridge.errors import ConfigError, did_you_mean
from crm_bridge.yamlfile import Path_, YamlDocument, load_yaml, parse_yaml

__all__ = [
    "ChildSpec",
    "FieldSpec",
    "Lookup",
    "MappingFile",
    "MappingSpec",
    "Step",
    "mapping_from_text",
    "read_mapping",
]

Owner = Literal["remote", "local", "newest"]
Scalar = bool | int | float | str


def _filter_value(value: Any) -> Any:
    """An ``exclude`` value: one plain value or a non-empty list of them (no mapping, no null)."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, bool | int | float | str) for v in values):
        msg = f"{value!r} is not a value to compare with: give one (true, 5, Администратор) or a list of them ([Администратор, Робот])"
        raise ValueError(msg)  # noqa: TRY004 - pydantic turns a ValueError into the file:line message
    return value


FilterValue = Annotated[Any, BeforeValidator(_filter_value)]
OWNERS = ("remote", "local", "newest")
Step = str | dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lookup(_Strict):
    """Read a referenced record's field instead of its key (1C state catalogs, enums-as-catalogs)."""

    entity: str
    field: str = "Description"


class FieldSpec(_Strict):
    """One canonical field: where it comes from and how it is converted, both ways."""

    source: str = Field(default="", alias="from")
    sources: tuple[str, ...] = ()  # every source when `from:` is a list (concat, template)
    transform: list[Step] = []
    map: dict[str, Any] | None = None
    regex: dict[str, Any] | None = None
    default: Any = "keep"  # for value maps: keep | ignore | a value
    reverse: dict[str, Any] | None = None  # write-back: canonical value → remote value
    ref: str | None = None
    lookup: Lookup | None = None
    owner: Owner = "remote"
    only_create: bool = False

    @model_validator(mode="before")
    @classmethod
    def _many_sources(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("from"), list):
            names = [str(n) for n in data["from"]]
            data = {**data, "from": names[0] if names else "", "sources": tuple(names)}
        return data

    @field_validator("transform", mode="before")
    @classmethod
    def _one_step_per_item(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            for step in value:
                if isinstance(step, dict) and len(step) != 1:
                    msg = f"a transform step with an argument has one key, like {{date: '%d.%m.%Y'}}; got {sorted(step)}"
                    raise ValueError(msg)
        return value

    @property
    def inputs(self) -> tuple[str, ...]:
        """The remote fields this field reads (none for a constant)."""
        return self.sources or ((self.source,) if self.source else ())


def _shorthand(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ({"from": v} if isinstance(v, str | list) else v) for k, v in value.items()}
    return value


class ChildSpec(_Strict):
    """Rows of a remote collection (1C tabular section, contact list) matched on `key`."""

    source: str = Field(alias="from")
    key: list[str]
    model: str | None = None  # canonical model whose fields the rows hold (checked when given)
    fields: dict[str, FieldSpec]
    # Who decides the whole section, as for a field: `remote` (imported only), `local` or
    # `newest` (written back: a PATCH replaces the whole section, so the full list is sent).
    owner: Owner = "remote"
    # Remote row fields written with a constant on every row sent (1C: {Роль: Соисполнитель}).
    fixed: dict[str, Scalar] = {}

    @field_validator("fields", mode="before")
    @classmethod
    def _fields_shorthand(cls, value: Any) -> Any:
        return _shorthand(value)

    @field_validator("key", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MappingSpec(_Strict):
    model: str
    entity: str
    key: str = "Ref_Key"
    version: str | None = None
    deleted: str | None = None
    changed_at: str | None = None
    changed_by: str | None = None
    # remote field holding crm-bridge's correlation key on records it creates, so a retried
    # create finds the record the lost answer created instead of making a second one
    correlation: str | None = None
    timezone: str | None = None
    # folders (groups) of a hierarchical catalog are no customers or agents: the backend
    # leaves them out (1C: IsFolder) unless `include`
    folders: Literal["skip", "include"] = "skip"
    exclude: list[dict[str, FilterValue]] = []
    fields: dict[str, FieldSpec]
    children: dict[str, ChildSpec] = {}

    @field_validator("exclude")
    @classmethod
    def _whole_entries(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for entry in value:
            if not entry:
                msg = "an exclude entry names at least one remote field, like {Служебный: true}"
                raise ValueError(msg)
        return value

    def excluded(self, values: Mapping[str, Any]) -> str | None:
        """Which ``exclude`` entry the remote `values` match (``exclude[0]: Служебный = True``),
        or None. A field matches one of its values; an entry matches when all its fields
        do. Text compares without trailing spaces: 1C pads fixed-length strings."""
        for i, entry in enumerate(self.exclude):
            if all(_matches(values.get(name), wanted) for name, wanted in entry.items()):
                return f"exclude[{i}]: " + ", ".join(f"{name} = {values.get(name)!r}" for name in entry)
        return None

    @field_validator("fields", mode="before")
    @classmethod
    def _fields_shorthand(cls, value: Any) -> Any:
        return _shorthand(value)

    def remote_fields(self) -> list[str]:
        """Every remote field the mapping reads or writes (for ``$select``)."""
        names = [self.key] + [n for n in (self.version, self.deleted, self.changed_at, self.changed_by, self.correlation) if n]
        for f in self.fields.values():
            names += f.inputs
        names += [c.source for c in self.children.values()]
        names += [name for entry in self.exclude for name in entry]  # read to apply the filter
        return list(dict.fromkeys(names))

    def version_of(self, row: Mapping[str, Any]) -> str | None:
        """A remote row's version as text; None when the mapping reads none or the row has none."""
        value = row.get(self.version) if self.version else None
        return None if value is None else str(value)

    def references(self) -> set[str]:
        """Canonical models this mapping refers to (fields and children)."""
        found = {f.ref for f in self.fields.values() if f.ref}
        for child in self.children.values():
            found |= {f.ref for f in child.fields.values() if f.ref}
        return found


def _matches(value: Any, wanted: Scalar | list[Scalar]) -> bool:
    for one in wanted if isinstance(wanted, list) else [wanted]:
        if isinstance(one, bool) or isinstance(value, bool):
            if value is one:
                return True
        elif isinstance(one, str) and isinstance(value, str):
            if value.rstrip(" ") == one.rstrip(" "):
                return True
        elif value == one and value is not None:
            return True
    return False


@dataclass
class MappingFile:
    """One mapping file as read: its document (positions), its spec if valid, its problems."""

    file: str
    doc: YamlDocument
    spec: MappingSpec | None
    problems: list[str] = field(default_factory=list)


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items() if name != "sources"]


def _unknown_keys(doc: YamlDocument, data: dict[str, Any], model: type[BaseModel], path: Path_, problems: list[str]) -> dict[str, Any]:
    """`data` without the keys `model` does not know; one problem per unknown key."""
    known = _keys(model)
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key in known:
            kept[key] = value
            continue
        where = doc.where((*path, key))
        dotted = ".".join(str(p) for p in (*path, key))
        problems.append(f"{where}: {dotted}: unknown key.{did_you_mean(key, known)} Valid keys here: {', '.join(known)}")
    return kept


def _clean_field(doc: YamlDocument, value: Any, path: Path_, problems: list[str]) -> Any:
    if not isinstance(value, dict):
        return value
    value = _unknown_keys(doc, value, FieldSpec, path, problems)
    owner = value.get("owner")
    if isinstance(owner, str) and owner not in OWNERS:
        where = doc.where((*path, "owner"))
        hint = did_you_mean(owner, OWNERS)
        problems.append(f"{where}: {'.'.join(map(str, path))}.owner: unknown owner {owner!r}.{hint} Valid: remote (imported), local (decided here, written back), newest (both ways)")
        value = {k: v for k, v in value.items() if k != "owner"}
    if isinstance(value.get("lookup"), dict):
        value = {**value, "lookup": _unknown_keys(doc, value["lookup"], Lookup, (*path, "lookup"), problems)}
    return value


def _clean_fields(doc: YamlDocument, fields: Any, path: Path_, problems: list[str]) -> Any:
    if not isinstance(fields, dict):
        return fields
    return {name: _clean_field(doc, value, (*path, name), problems) for name, value in fields.items()}


def _clean(doc: YamlDocument, problems: list[str]) -> Any:
    """The document's data with misspelt keys reported and dropped, so the rest still validates."""
    data = doc.data
    if not isinstance(data, dict):
        return data
    data = _unknown_keys(doc, data, MappingSpec, (), problems)
    if "fields" in data:
        data["fields"] = _clean_fields(doc, data["fields"], ("fields",), problems)
    children = data.get("children")
    if isinstance(children, dict):
        cleaned: dict[str, Any] = {}
        for name, child in children.items():
            path: Path_ = ("children", name)
            if isinstance(child, dict):
                child = _unknown_keys(doc, child, ChildSpec, path, problems)
                if "fields" in child:
                    child["fields"] = _clean_fields(doc, child["fields"], (*path, "fields"), problems)
            cleaned[name] = child
        data["children"] = cleaned
    return data


def _read_doc(doc: YamlDocument) -> MappingFile:
    problems: list[str] = []
    if not isinstance(doc.data, dict):
        problems.append(f"{doc.file}:1:1: a mapping file is a YAML mapping with model:, entity: and fields:")
        return MappingFile(doc.file, doc, None, problems)
    data = _clean(doc, problems)
    try:
        spec: MappingSpec | None = validate_document(doc, MappingSpec, data)
    except ConfigErrors as exc:
        problems += exc.problems
        spec = None
    return MappingFile(doc.file, doc, spec, problems)


def read_mapping(path: Path, *, display: str | None = None) -> MappingFile:
    """Read one mapping file; problems are collected, not raised (except unreadable files).

    Args:
        path: the file.
        display: the name used in messages (default: the path as given).

    Raises:
        ConfigError: the file is missing, not UTF-8 or not YAML.
    """
    if display is None:
        return _read_doc(load_yaml(path, environ={}, create_with="crm-bridge mapping suggest --out <file>"))
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display}: cannot read the mapping file ({exc}); check the path") from exc
    return _read_doc(parse_yaml(text, display, environ={}))


def mapping_from_text(text: str, file: str = "<mapping>") -> MappingFile:
    """Parse a mapping given as YAML text (tests, ``suggest``)."""
    return _read_doc(parse_yaml(text, file, environ={}))
