"""The system query options of one request, parsed the way 1C parses them.

Two 1C habits matter here. A raw ``+`` is not a space to 1C: with the ``plus_quirk``
on, a ``$filter`` whose raw text holds ``+`` (form encoding, Python's ``urlencode``)
is silently ignored and the whole set comes back — the trap of INTERFACE.md §10.2.
And ``$expand`` only expands what ``$select`` also names (§10.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

from .errors import ODataError, bad_path
from .schema import EntityType, Schema

__all__ = ["Options", "Selection", "parse_options", "parse_selection"]

_JSON_FORMATS = {
    "json": "json",
    "application/json": "json",
    "application/json;odata=minimalmetadata": "json",
    "application/json;odata=fullmetadata": "json",
    "application/json;odata=verbose": "json",
    "application/json;odata=nometadata": "nometadata",
    "atom": "atom",
    "xml": "atom",
    "application/atom+xml": "atom",
    "application/xml": "atom",
}


@dataclass
class Options:
    """Query options after decoding. ``format`` is ``json``, ``nometadata`` or ``atom``."""

    format: str = "atom"
    filter: str | None = None
    filter_ignored: bool = False
    select: list[str] | None = None
    expand: list[str] | None = None
    orderby: str | None = None
    top: int | None = None
    skip: int = 0
    inlinecount: bool = False
    load_mode: bool = False  # header 1C_OData_DataLoadMode: true
    params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> bool:
        return self.format in ("json", "nometadata")


@dataclass
class Selection:
    """What to render of one entity: ``names`` None means every property."""

    names: set[str] | None = None
    nested: dict[str, Selection] = field(default_factory=dict)
    expand: dict[str, Selection] = field(default_factory=dict)


def parse_options(raw_query: str, *, plus_quirk: bool) -> Options:
    """Decode the raw query string (percent-encoded UTF-8) into :class:`Options`.

    Raises:
        ODataError: 400 for a malformed ``$top``/``$skip`` or an unknown ``$format``.
    """
    options = Options()
    for pair in raw_query.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        decode = unquote if plus_quirk else unquote_plus
        name, value = decode(raw_name), decode(raw_value)
        options.params[name] = value
        if name == "$filter":
            if plus_quirk and "+" in raw_value:
                options.filter_ignored = True  # what real 1C does with form-encoded spaces
            else:
                options.filter = value
        elif name == "$format":
            fmt = _JSON_FORMATS.get(value.replace(" ", "").lower())
            if fmt is None:
                raise ODataError(400, "3", f"Представление {value} не поддерживается")
            options.format = fmt
        elif name == "$select":
            options.select = [item.strip() for item in value.split(",") if item.strip()]
        elif name == "$expand":
            options.expand = [item.strip() for item in value.split(",") if item.strip()]
        elif name == "$orderby":
            options.orderby = value
        elif name in ("$top", "$skip"):
            number = _non_negative(name, value)
            if name == "$top":
                options.top = number
            else:
                options.skip = number
        elif name == "$inlinecount":
            options.inlinecount = value == "allpages"
    return options


def _non_negative(name: str, value: str) -> int:
    if not value.isdigit():
        raise ODataError(400, "14", f"Ошибка при разборе опции запроса {name}: '{value}'")
    return int(value)


def parse_selection(
    select: list[str] | None, expand: list[str] | None, etype: EntityType, schema: Schema
) -> Selection:
    """Validate ``$select``/``$expand`` against the type (unknown name → 400 code 6).

    A navigation is expanded only when it is also selected, as on a real base; with no
    ``$select`` at all, ``$expand`` is ignored.
    """
    selection = Selection()
    if select and "*" not in select:
        selection.names = set()
        for item in select:
            _select_path(selection, item.split("/"), item, etype, schema)
    if select and expand:
        for item in expand:
            _expand_path(selection, item.split("/"), item, etype, schema)
    return selection


def _select_path(
    selection: Selection, parts: list[str], item: str, etype: EntityType, schema: Schema
) -> None:
    head = parts[0]
    if head == "*":
        selection.names = None
        return
    known = head in etype.index or head in etype.navigations
    if not known:
        raise bad_path(item)
    if selection.names is not None:
        selection.names.add(head)
    if len(parts) > 1:
        nav = etype.navigations.get(head)
        if nav is None:
            raise bad_path(item)
        sub = selection.nested.setdefault(head, Selection(names=set()))
        _select_path(sub, parts[1:], item, schema.sets[nav.target].type, schema)


def _expand_path(
    selection: Selection, parts: list[str], item: str, etype: EntityType, schema: Schema
) -> None:
    nav = etype.navigations.get(parts[0])
    if nav is None:
        raise bad_path(item)
    if selection.names is not None and parts[0] not in selection.names:
        return  # not selected: 1C silently does not expand it
    sub = selection.nested.get(parts[0]) or Selection()
    selection.expand[parts[0]] = sub
    if len(parts) > 1:
        _expand_path(sub, parts[1:], item, schema.sets[nav.target].type, schema)

