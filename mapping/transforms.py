"""The safe transform library: small pure functions from one value to one value.

A mapping names them in ``transform:``, bare (``strip``) or with one argument
(``{date: "%d.%m.%Y %H:%M"}``, ``{split: ";"}``, ``{const: phone}``)::

    phone:   {from: Телефон, transform: [strip, phone_e164]}
    opened:  {from: created, transform: [{date: {format: "%d.%m.%Y %H:%M", tz: Europe/Moscow}}]}
    name:    {from: [Фамилия, Имя], transform: [{concat: " "}]}

Every transform except ``const`` leaves ``None`` alone (the compiled chain skips it).
An addon adds its own with ``registry.add(fn, usage="mapping.transform", name="x")``
where ``fn(value) -> value`` is pure; it is then usable as ``transform: [x]``.

Each transform also declares what kinds of value it accepts and returns (for
``mapping check``) and how to undo it on write-back (``None``: it cannot be undone, so the
field cannot be written back).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from crm_bridge.errors import ConfigError
from crm_bridge.registry import Registry

__all__ = [
    "BUILTIN_TRANSFORMS",
    "TRANSFORMS",
    "Transform",
    "TransformDef",
    "bind_registry",
    "library",
    "step_parts",
]

Transform = Callable[[Any], Any]
Factory = Callable[[Any, "ZoneInfo | None"], Transform]


@dataclass(frozen=True)
class TransformDef:
    """One transform: how to build it from its argument, its kinds, how to undo it."""

    name: str
    make: Factory
    summary: str
    accepts: frozenset[str] | None = None  # value kinds (see mapping.kinds); None: any
    returns: str | None = None  # kind of the result; None: the input's kind
    undo: Factory | None = None  # write-back direction; None: cannot be written back
    takes_none: bool = False  # called even when the value is None (const)
    needs_arg: bool = False


def _same(_arg: Any, _zone: ZoneInfo | None) -> Transform:
    return _identity


def _identity(value: Any) -> Any:
    return value


def _strip(value: Any) -> Any:
    # 1C pads fixed-length strings with spaces.
    return value.strip() if isinstance(value, str) else value


def _empty_to_none(value: Any) -> Any:
    return None if value in ("", [], {}) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


_NOT_DIGIT = re.compile(r"[^0-9]")  # ASCII only: a \D class would keep other scripts' digits


def _digits(value: Any) -> Any:
    return _NOT_DIGIT.sub("", value) if isinstance(value, str) else value


def _phone(arg: Any, _zone: ZoneInfo | None) -> Transform:
    """Numbers to E.164: ``8 (812) 555-01-02`` → ``+78125550102`` (country code `arg`, default 7)."""
    country = str(arg or "7")
    national = 10  # digits after the country code (Russia, USA, ...)

    def phone_e164(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        digits = _NOT_DIGIT.sub("", value)
        if not digits:
            return None
        if value.lstrip().startswith("+"):
            return "+" + digits
        if country == "7" and len(digits) == 11 and digits[0] == "8":
            return "+7" + digits[1:]
        if len(digits) == national + len(country) and digits.startswith(country):
            return "+" + digits
        if len(digits) == national:
            return "+" + country + digits
        return digits

    return phone_e164


def _date_args(arg: Any, zone: ZoneInfo | None) -> tuple[str | None, ZoneInfo | None]:
    if isinstance(arg, Mapping):
        fmt, tz = arg.get("format"), arg.get("tz")
        return (str(fmt) if fmt else None), (ZoneInfo(str(tz)) if tz else zone)
    return (str(arg) if arg else None), zone


def _date(arg: Any, zone: ZoneInfo | None) -> Transform:
    """Text → aware datetime: ISO 8601 or `format` (strptime); naive results get the zone."""
    fmt, tz = _date_args(arg, zone)

    def parse(value: Any) -> Any:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime.combine(value, time())
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            parsed = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)  # noqa: DTZ007 - zone attached below
        else:
            msg = f"expected a date text, got {type(value).__name__}"
            raise TypeError(msg)
        if parsed.tzinfo is None:
            if tz is None:
                msg = f"{value!r} has no time zone and the mapping names none; add `timezone:` to the mapping"
                raise ValueError(msg)
            parsed = parsed.replace(tzinfo=tz)
        return parsed

    return parse


def _date_undo(arg: Any, zone: ZoneInfo | None) -> Transform:
    fmt, tz = _date_args(arg, zone)

    def render(value: Any) -> Any:
        if not isinstance(value, datetime):
            return value
        local = value.astimezone(tz) if tz is not None else value
        return local.strftime(fmt) if fmt else local.isoformat()

    return render


def _unix(arg: Any, _zone: ZoneInfo | None) -> Transform:
    """Epoch seconds (amoCRM, many REST APIs) → aware UTC datetime; ``{unix: ms}`` for milliseconds."""
    scale = 1000 if arg == "ms" else 1

    def read(value: Any) -> Any:
        if value in (None, "", 0):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            msg = f"{value!r} is not a number of seconds since 1970"
            raise TypeError(msg)
        return datetime.fromtimestamp(float(value) / scale, UTC)

    return read


def _unix_undo(arg: Any, _zone: ZoneInfo | None) -> Transform:
    scale = 1000 if arg == "ms" else 1
    return lambda value: int(value.timestamp() * scale) if isinstance(value, datetime) else value


def _number(_arg: Any, _zone: ZoneInfo | None) -> Transform:
    """Text → int (no fraction) or Decimal: ``"1 234,50"`` → ``Decimal("1234.50")``."""

    def number(value: Any) -> Any:
        if isinstance(value, bool):
            msg = "expected a number, got a yes/no value"
            raise TypeError(msg)
        if isinstance(value, int | Decimal):
            return value
        if isinstance(value, float):
            return Decimal(repr(value))
        if not isinstance(value, str):
            msg = f"expected a number text, got {type(value).__name__}"
            raise TypeError(msg)
        text = value.replace("\u00a0", "").replace(" ", "").replace(",", ".")
        if not text:
            return None
        try:
            parsed = Decimal(text)
        except InvalidOperation as exc:
            msg = f"{value!r} is not a number"
            raise ValueError(msg) from exc
        if not parsed.is_finite():
            msg = f"{value!r} is not a finite number"
            raise ValueError(msg)
        return int(parsed) if parsed == parsed.to_integral_value() and "." not in text else parsed

    return number


def _split(arg: Any, _zone: ZoneInfo | None) -> Transform:
    sep = "," if arg is None else str(arg)

    def split(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return [part.strip() for part in value.split(sep) if part.strip()]

    return split


def _join(arg: Any, _zone: ZoneInfo | None) -> Transform:
    sep = ", " if arg is None else str(arg)

    def join(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return sep.join(str(v) for v in value if v not in (None, ""))
        return value

    return join


def _split_undo(arg: Any, zone: ZoneInfo | None) -> Transform:
    return _join(arg if arg is not None else ",", zone)


def _join_undo(arg: Any, zone: ZoneInfo | None) -> Transform:
    return _split((", " if arg is None else str(arg)).strip() or " ", zone)


def _parts(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _concat(arg: Any, _zone: ZoneInfo | None) -> Transform:
    """Several sources (``from: [A, B]``) → one text, empty parts skipped."""
    sep = " " if arg is None else str(arg)

    def concat(value: Any) -> Any:
        return sep.join(str(p).strip() for p in _parts(value) if p is not None and str(p).strip())

    return concat


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _template(arg: Any, _zone: ZoneInfo | None) -> Transform:
    """``{template: "{Number}: {Тема}"}`` — source names as placeholders; ``{value}`` is a single source."""
    text = str(arg)

    def template(value: Any) -> Any:
        names = _Blank({k: ("" if v is None else v) for k, v in value.items()}) if isinstance(value, Mapping) else _Blank(value="" if value is None else value)
        return text.format_map(names)

    return template


def _const(arg: Any, _zone: ZoneInfo | None) -> Transform:
    return lambda _value: arg


def _row(arg: Any, _zone: ZoneInfo | None) -> Transform:
    """A value from the rows of a tabular section: the first row whose columns equal `where`,
    its column `take`, as text (1C keeps e-mail and phones in ``КонтактнаяИнформация`` rows:
    ``{row: {where: {Тип: АдресЭлектроннойПочты}, take: АдресЭП}}``). No such row: None."""
    if not isinstance(arg, dict) or set(arg) - {"where", "take"} or not isinstance(arg.get("take"), str) \
            or not isinstance(arg.get("where", {}), dict):
        msg = f"row needs {{where: {{column: value}}, take: column}}, not {arg!r}"
        raise ConfigError(msg)
    where: dict[str, Any] = dict(arg.get("where", {}))
    take: str = arg["take"]

    def pick(rows: Any) -> Any:
        if not isinstance(rows, list):
            return None
        for row in rows:
            if isinstance(row, dict) and all(row.get(k) == v for k, v in where.items()):
                return row.get(take)
        return None

    return pick


def _fixed(fn: Transform) -> Factory:
    return lambda _arg, _zone: fn


_TEXT = frozenset({"text", "guid", "any"})

TRANSFORMS: dict[str, TransformDef] = {
    d.name: d
    for d in (
        TransformDef("strip", _fixed(_strip), "trim spaces (1C pads fixed-length strings)", _TEXT, None, _same),
        TransformDef("empty_to_none", _fixed(_empty_to_none), "'' / [] / {} → null", None, None, _same),
        TransformDef("lower", _fixed(_lower), "lower case", _TEXT, None, _same),
        TransformDef("upper", _fixed(_upper), "upper case", _TEXT, None, _same),
        TransformDef("digits", _fixed(_digits), "keep digits only (ИНН, КПП, phone)", _TEXT, "text", _same),
        TransformDef("phone_e164", _phone, "phone to E.164; argument: country code (default 7)", _TEXT, "text", _same),
        TransformDef("date", _date, "text → aware datetime; argument: strptime format or {format, tz}",
                     frozenset({"text", "datetime", "any"}), "datetime", _date_undo),
        TransformDef("unix", _unix, "epoch seconds → aware datetime (UTC); {unix: ms} for milliseconds",
                     frozenset({"int", "number", "text", "any"}), "datetime", _unix_undo),
        TransformDef("number", _number, "text → int or Decimal ('1 234,50' → 1234.50)",
                     frozenset({"text", "int", "number", "any"}), "number", _same),
        TransformDef("split", _split, "text → list; argument: separator (default ',')", _TEXT, "list", _split_undo),
        TransformDef("join", _join, "list → text; argument: separator (default ', ')",
                     frozenset({"list", "any"}), "text", _join_undo),
        TransformDef("concat", _concat, "several sources → one text; argument: separator (default ' ')", None, "text"),
        TransformDef("template", _template, "several sources → text: {template: '{Number}: {Тема}'}", None, "text",
                     needs_arg=True),
        TransformDef("row", _row, "a tabular section's row → one column: {row: {where: {Тип: АдресЭлектроннойПочты}, take: АдресЭП}}",
                     frozenset({"list", "any"}), "text", needs_arg=True),
        TransformDef("const", _const, "a fixed value: {const: phone}", None, "any", takes_none=True, needs_arg=True),
    )
}

BUILTIN_TRANSFORMS: dict[str, Transform] = {
    name: d.make(None, None) for name, d in TRANSFORMS.items() if not d.needs_arg
}

_registry: Registry | None = None


def bind_registry(registry: Registry) -> None:
    """Remember the registry so addon transforms (``usage="mapping.transform"``) are found."""
    global _registry  # one registry per process, bound when the addon loads
    _registry = registry


def library(extra: Mapping[str, Transform] | None = None) -> dict[str, TransformDef]:
    """Built-in transforms, plus the registered addon ones, plus `extra` (later wins)."""
    found = dict(TRANSFORMS)
    custom: dict[str, Transform] = {}
    if _registry is not None:
        custom.update({c.name: c.obj for c in _registry.all("mapping.transform")})
    custom.update(extra or {})
    for name, fn in custom.items():
        # An addon transform is taken as a normalisation (written back unchanged) unless it
        # carries its inverse as ``fn.undo``.
        undo = getattr(fn, "undo", None)
        found[name] = TransformDef(name, _fixed(fn), (fn.__doc__ or "addon transform").strip().splitlines()[0],
                                   undo=_fixed(undo) if callable(undo) else _same)
    return found


def step_parts(step: str | Mapping[str, Any]) -> tuple[str, Any]:
    """``"strip"`` → ``("strip", None)``; ``{"date": "%d.%m.%Y"}`` → ``("date", "%d.%m.%Y")``."""
    if isinstance(step, str):
        return step, None
    ((name, arg),) = step.items()
    return str(name), arg
