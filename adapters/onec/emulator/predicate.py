"""Compile a parsed `$filter`/`$orderby` against the schema into Python closures.

Compilation resolves every name once (column index, Edm kind, reference target), so
evaluating a filter over a million stored rows is a chain of closure calls, not an
interpretation of the tree per row. Names are checked here too: an unknown property,
a type mismatch or an unknown function is a 400 before a single row is read.

An environment is a tuple of rows: ``env[0]`` is the entity's row, each nested
``any``/``all`` lambda appends the tabular-section row its variable is bound to.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..refs import stored_order
from .errors import ODataError, bad_literal, bad_path, filter_error
from .query import (
    Binary,
    Call,
    Expr,
    FilterSyntaxError,
    Lambda,
    Literal,
    LiteralSyntaxError,
    Path,
    Unary,
    parse_filter,
    parse_orderby,
)
from .schema import EntityType, Property, Schema

__all__ = ["Lookup", "Predicate", "RefOrder", "SortKey", "compile_filter", "compile_orderby"]

Env = tuple[Sequence[Any], ...]
Getter = Callable[[Env], Any]
Predicate = Callable[[Sequence[Any]], bool]
SortKey = tuple[Callable[[Sequence[Any]], Any], bool]
#: ``lookup(set_name, ref_key)`` → the stored row of that object, or None
Lookup = Callable[[str, str], Sequence[Any] | None]
#: a lower-case dashed GUID → its sort key in the base's order of references (``refs.REF_ORDERS``)
RefOrder = Callable[[str], str]

_KINDS = {
    "Edm.Guid": "guid", "Edm.String": "string", "Edm.DateTime": "datetime",
    "Edm.Boolean": "bool", "Edm.Binary": "string",
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "mod": operator.mod,
    "div": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0
    else Decimal(a) / Decimal(b),
}
_COMPATIBLE = {frozenset({"string", "guid"}), frozenset({"string", "datetime"})}
_DATE_PARTS = {"year": (0, 4), "month": (5, 7), "day": (8, 10),
               "hour": (11, 13), "minute": (14, 16), "second": (17, 19)}


@dataclass(frozen=True)
class _Node:
    fn: Getter
    kind: str  # guid string datetime bool number null ref any
    type_fn: Getter | None = None  # composite field: getter of its ``Foo_Type`` column
    cast_type: str | None = None  # for ``cast(guid'…','Catalog_X')``: the type name


@dataclass(frozen=True)
class _Scope:
    root: EntityType
    variables: dict[str, tuple[int, EntityType]]
    depth: int


def compile_filter(text: str, etype: EntityType, schema: Schema, lookup: Lookup,
                   order: RefOrder = stored_order) -> Predicate:
    """`$filter` text → predicate over stored rows of ``etype``; references compare
    (``gt``/``ge``/``lt``/``le``) in `order`, the one ``$orderby`` sorts them in.

    Raises:
        ODataError: 400 code 14 on syntax/name/type errors, 400 code 1 on a bad literal.
    """
    try:
        expr = parse_filter(text)
    except LiteralSyntaxError as exc:
        raise bad_literal(str(exc)) from exc
    except FilterSyntaxError as exc:
        raise filter_error(str(exc)) from exc
    node = _Compiler(schema, lookup, filter_error, order).compile(expr, _Scope(etype, {}, 0))
    if node.kind not in ("bool", "any"):
        raise filter_error("выражение должно иметь тип Булево")
    fn = node.fn
    return lambda row: bool(fn((row,)))


def compile_orderby(text: str, etype: EntityType, schema: Schema, lookup: Lookup,
                    order: RefOrder = stored_order) -> list[SortKey]:
    """`$orderby` text → ``(key function, descending)`` list, references sorted in `order`;
    unknown names → 400 code 6."""
    try:
        items = parse_orderby(text)
    except FilterSyntaxError as exc:
        raise bad_path(text) from exc
    compiler = _Compiler(schema, lookup, lambda detail: bad_path(detail), order)
    keys: list[SortKey] = []
    for expr, descending in items:
        node = compiler.compile(expr, _Scope(etype, {}, 0))
        keys.append((_sort_key(_in_order(node.fn, order) if node.kind == "guid" else node.fn), descending))
    return keys


def _in_order(fn: Getter, order: RefOrder) -> Getter:
    """A GUID-valued getter → its value as the base orders references (`order`)."""
    return lambda env: None if (value := fn(env)) is None else order(str(value).lower())


def _sort_key(fn: Getter) -> Callable[[Sequence[Any]], Any]:
    def key(row: Sequence[Any]) -> tuple[bool, Any]:
        value = fn((row,))
        return (value is not None, value)

    return key


class _Compiler:
    def __init__(self, schema: Schema, lookup: Lookup, error: Callable[[str], ODataError],
                 order: RefOrder) -> None:
        self.schema, self.lookup, self.error, self.order = schema, lookup, error, order

    def compile(self, expr: Expr, scope: _Scope) -> _Node:
        if isinstance(expr, Literal):
            value = expr.value
            return _Node(lambda env: value, expr.kind)
        if isinstance(expr, Path):
            return self.path(expr, scope)
        if isinstance(expr, Binary):
            return self.binary(expr, scope)
        if isinstance(expr, Unary):
            operand = self.compile(expr.operand, scope)
            self.require(operand, "bool", "not")
            fn = operand.fn
            return _Node(lambda env: not fn(env), "bool")
        if isinstance(expr, Lambda):
            return self.lambda_(expr, scope)
        return self.call(expr, scope)

    def require(self, node: _Node, kind: str, where: str) -> None:
        if node.kind not in (kind, "any", "null"):
            raise self.error(f"несовместимые типы: {where} ожидает {kind}, получено {node.kind}")

    def path(self, path: Path, scope: _Scope) -> _Node:
        parts = list(path.parts)
        depth, etype = 0, scope.root
        if parts[0] in scope.variables:
            depth, etype = scope.variables[parts.pop(0)]
            if not parts:
                raise self.error(f"переменная {path.parts[0]} без свойства")
        row_fn: Getter = _row_getter(depth)
        for position, name in enumerate(parts):
            last = position == len(parts) - 1
            prop = etype.properties.get(name)
            if prop is not None and last:
                return self.column(etype, prop, row_fn)
            nav = etype.navigations.get(name)
            if nav is not None:
                key_fn = _column_getter(row_fn, etype.index[nav.key])
                if last:
                    return _Node(key_fn, "guid")
                row_fn = self.deref(key_fn, nav.target)
                etype = self.schema.sets[nav.target].type
                continue
            if name in etype.sections:
                raise self.error(f"табличная часть {name} допустима только в any/all")
            raise self.error(f"свойство '{'/'.join(path.parts)}' не найдено")
        raise self.error(f"свойство '{'/'.join(path.parts)}' не найдено")  # pragma: no cover

    def column(self, etype: EntityType, prop: Property, row_fn: Getter) -> _Node:
        fn = _column_getter(row_fn, etype.index[prop.name])
        type_name = etype.composite_type_column(prop.name)
        type_fn = _column_getter(row_fn, etype.index[type_name]) if type_name else None
        kind = "number" if prop.is_number else _KINDS.get(prop.edm, "string")
        return _Node(fn, kind, type_fn)

    def deref(self, key_fn: Getter, target: str) -> Getter:
        lookup = self.lookup
        return lambda env: lookup(target, key) if (key := key_fn(env)) else None

    def binary(self, expr: Binary, scope: _Scope) -> _Node:
        left, right = self.compile(expr.left, scope), self.compile(expr.right, scope)
        op = expr.op
        if op in ("and", "or"):
            self.require(left, "bool", op)
            self.require(right, "bool", op)
            lf, rf = left.fn, right.fn
            if op == "and":
                return _Node(lambda env: bool(lf(env)) and bool(rf(env)), "bool")
            return _Node(lambda env: bool(lf(env)) or bool(rf(env)), "bool")
        if op in _ARITHMETIC:
            self.require(left, "number", op)
            self.require(right, "number", op)
            lf, rf, arith = left.fn, right.fn, _ARITHMETIC[op]
            return _Node(lambda env: _arith(arith, lf(env), rf(env)), "number")
        if "ref" in (left.kind, right.kind):
            return self.compare_cast(op, left, right)
        kinds = {left.kind, right.kind}
        if len(kinds) > 1 and not kinds & {"any", "null"} and frozenset(kinds) not in _COMPATIBLE:
            raise self.error(f"несовместимые типы в операции {op}: {left.kind} и {right.kind}")
        lf, rf, compare = left.fn, right.fn, _COMPARE[op]
        if op in ("eq", "ne"):
            return _Node(lambda env: compare(lf(env), rf(env)), "bool")
        if "guid" in kinds and kinds <= {"guid", "null", "any"}:  # references compare as the base orders them
            lf, rf = _in_order(left.fn, self.order), _in_order(right.fn, self.order)
        return _Node(
            lambda env: (a := lf(env)) is not None and (b := rf(env)) is not None and compare(a, b),
            "bool",
        )

    def compare_cast(self, op: str, left: _Node, right: _Node) -> _Node:
        """``Основание eq cast(guid'…','Document_X')``: match the GUID *and* the type."""
        if op not in ("eq", "ne"):
            raise self.error(f"операция {op} не применима к ссылке")
        cast, field = (left, right) if left.kind == "ref" else (right, left)
        if field.kind not in ("guid", "string", "any", "null"):
            raise self.error("cast() сравнивается только со ссылкой")
        key = cast.fn(())
        fn, type_fn = field.fn, field.type_fn
        if type_fn is None:
            match: Getter = lambda env: fn(env) == key  # noqa: E731 - plain reference field
        else:
            wanted = f"StandardODATA.{cast.cast_type}"
            match = lambda env: fn(env) == key and type_fn(env) == wanted  # noqa: E731
        if op == "ne":
            return _Node(lambda env: not match(env), "bool")
        return _Node(match, "bool")

    def lambda_(self, expr: Lambda, scope: _Scope) -> _Node:
        parts = list(expr.collection.parts)
        depth, etype = 0, scope.root
        if parts[0] in scope.variables:
            depth, etype = scope.variables[parts.pop(0)]
        if len(parts) != 1 or parts[0] not in etype.sections:
            raise self.error(f"'{'/'.join(expr.collection.parts)}' не табличная часть")
        section = etype.sections[parts[0]]
        rows_fn = _column_getter(_row_getter(depth), etype.index[section.name])
        if expr.body is None:
            return _Node(lambda env: bool(rows_fn(env)), "bool")
        inner_depth = scope.depth + 1
        inner = _Scope(scope.root, {**scope.variables, expr.variable: (inner_depth, section.row)},
                       inner_depth)
        body = self.compile(expr.body, inner)
        self.require(body, "bool", expr.quantifier)
        body_fn = body.fn
        if expr.quantifier == "any":
            return _Node(lambda env: any(body_fn((*env, r)) for r in rows_fn(env) or ()), "bool")
        return _Node(lambda env: all(body_fn((*env, r)) for r in rows_fn(env) or ()), "bool")

    def call(self, expr: Call, scope: _Scope) -> _Node:
        name, args = expr.name, [self.compile(a, scope) for a in expr.args]
        if name == "cast":
            return self.cast(expr, args)
        signature = _FUNCTIONS.get(name)
        if signature is None:
            raise self.error(f"неизвестная функция {name}")
        arg_kinds, result_kind, impl = signature
        if len(args) not in arg_kinds:
            raise self.error(f"функция {name}: неверное число аргументов")
        for node, kind in zip(args, arg_kinds[len(args)], strict=True):
            self.require(node, kind, name)
        fns = [a.fn for a in args]
        return _Node(lambda env: _safe(impl, [f(env) for f in fns]), result_kind)

    def cast(self, expr: Call, args: list[_Node]) -> _Node:
        if len(args) != 2 or args[0].kind != "guid" or not isinstance(expr.args[1], Literal):
            raise self.error("cast() ожидает (guid'…', 'Тип')")
        type_name = str(expr.args[1].value)
        if type_name not in self.schema.sets and not type_name.startswith(
            ("Catalog_", "Document_", "ChartOf", "ExchangePlan_", "BusinessProcess_", "Task_")
        ):
            raise self.error(f"неизвестный тип {type_name}")
        return _Node(args[0].fn, "ref", cast_type=type_name)


def _row_getter(depth: int) -> Getter:
    return lambda env: env[depth]


def _column_getter(row_fn: Getter, index: int) -> Getter:
    return lambda env: None if (row := row_fn(env)) is None else row[index]


def _arith(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    try:
        return fn(a, b)
    except (ZeroDivisionError, ArithmeticError):
        return None


def _safe(impl: Callable[..., Any], values: list[Any]) -> Any:
    return None if any(v is None for v in values) else impl(*values)


def _date_part(name: str) -> Callable[[str], int]:
    start, end = _DATE_PARTS[name]
    return lambda value: int(value[start:end])


_S, _N = "string", "number"
# name → ({arity: argument kinds}, result kind, implementation)
_FUNCTIONS: dict[str, tuple[dict[int, tuple[str, ...]], str, Callable[..., Any]]] = {
    # 1C compares strings without regard to case in queries (LIKE on its DBMSs)
    "substringof": ({2: (_S, _S)}, "bool", lambda needle, hay: needle.lower() in hay.lower()),
    "startswith": ({2: (_S, _S)}, "bool", lambda hay, pre: hay.lower().startswith(pre.lower())),
    "endswith": ({2: (_S, _S)}, "bool", lambda hay, suf: hay.lower().endswith(suf.lower())),
    "indexof": ({2: (_S, _S)}, _N, lambda hay, needle: hay.lower().find(needle.lower())),
    "length": ({1: (_S,)}, _N, len),
    "tolower": ({1: (_S,)}, _S, str.lower),
    "toupper": ({1: (_S,)}, _S, str.upper),
    "trim": ({1: (_S,)}, _S, str.strip),
    "concat": ({2: (_S, _S)}, _S, operator.add),
    "substring": ({2: (_S, _N), 3: (_S, _N, _N)}, _S,
                  lambda s, i, n=None: s[i:] if n is None else s[i:i + n]),
    **{part: ({1: ("datetime",)}, _N, _date_part(part)) for part in _DATE_PARTS},
}
