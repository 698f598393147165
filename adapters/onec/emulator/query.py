"""Tokenizer and parser for 1C's OData v3 `$filter` (and `$orderby` items).

A real recursive-descent parser, never ``eval``: the text becomes a small AST that
:mod:`.predicate` compiles against the schema. Precedence follows OData v3, lowest
first: ``or``, ``and``, ``eq/ne``, ``gt/ge/lt/le``, ``add/sub``, ``mul/div/mod``,
unary ``not``/``-``, then primaries (literals, member paths ``A/B``, calls, lambdas
``Section/any(d: …)``, parentheses). Any syntax error raises :class:`FilterSyntaxError`
carrying the position, which the service turns into 400 code 14.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal as TypingLiteral

__all__ = [
    "Binary",
    "Call",
    "Expr",
    "FilterSyntaxError",
    "Lambda",
    "Literal",
    "LiteralSyntaxError",
    "Path",
    "Unary",
    "parse_filter",
    "parse_orderby",
    "tokenize",
]

LiteralKind = TypingLiteral["string", "guid", "datetime", "bool", "number", "null"]


class FilterSyntaxError(ValueError):
    """The expression does not parse; ``position`` is a 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (позиция {position + 1})")
        self.position = position


class LiteralSyntaxError(FilterSyntaxError):
    """A ``guid'…'``/``datetime'…'`` body 1C cannot parse (code 1, not 14)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "string", "typed", "number", "punct", "end"
    text: str
    position: int
    prefix: str = ""  # for "typed": guid, datetime, ...


@dataclass(frozen=True)
class Literal:
    value: object
    kind: LiteralKind
    text: str


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    position: int


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "-"
    operand: Expr


@dataclass(frozen=True)
class Lambda:
    collection: Path
    quantifier: str  # "any" or "all"
    variable: str
    body: Expr | None


Expr = Literal | Path | Call | Binary | Unary | Lambda

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?:guid|datetime|datetimeoffset|time|X|binary)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?)
  | (?P<name>[^\W\d]\w*|\$\w+)
  | (?P<punct>[(),/:])
    """,
    re.VERBOSE,
)
_EQUALITY = ("eq", "ne")
_RELATIONAL = ("gt", "ge", "lt", "le")
_ADDITIVE = ("add", "sub")
_MULTIPLICATIVE = ("mul", "div", "mod")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens; an unknown character is a syntax error."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterSyntaxError(f"неожиданный символ {text[position]!r}", position)
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "typed":
            prefix, _, rest = value.partition("'")
            tokens.append(Token("typed", rest[:-1].replace("''", "'"), position, prefix))
        elif kind == "string":
            tokens.append(Token("string", value[1:-1].replace("''", "'"), position))
        elif kind != "ws":
            tokens.append(Token(kind, value, position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def normalize_datetime(text: str) -> str | None:
    """``datetime'…'`` body → 1C's ``YYYY-MM-DDTHH:MM:SS``; None when malformed."""
    match = _DATETIME.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (g or "00" for g in match.groups())
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(hour) < 24
            and int(minute) < 60 and int(second) < 60):
        return None
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}"


def normalize_guid(text: str) -> str | None:
    """``guid'…'`` body → lower-case dashed form; None when malformed."""
    return text.lower() if _GUID.match(text) else None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.current.kind == "name" and self.current.text in words

    def expect(self, punct: str) -> Token:
        if self.current.kind != "punct" or self.current.text != punct:
            found = self.current.text or "конец выражения"
            raise FilterSyntaxError(f"ожидалось {punct!r}, найдено {found!r}", self.current.position)
        return self.advance()

    def finish(self) -> None:
        if self.current.kind != "end":
            raise FilterSyntaxError(f"лишний текст {self.current.text!r}", self.current.position)

    def binary_level(self, operators: tuple[str, ...], operand: Callable[[], Expr]) -> Expr:
        left = operand()
        while self.at_word(*operators):
            op = self.advance().text
            left = Binary(op, left, operand())
        return left

    def expression(self) -> Expr:
        return self.binary_level(("or",), self.conjunction)

    def conjunction(self) -> Expr:
        return self.binary_level(("and",), self.equality)

    def equality(self) -> Expr:
        return self.binary_level(_EQUALITY, self.relational)

    def relational(self) -> Expr:
        return self.binary_level(_RELATIONAL, self.additive)

    def additive(self) -> Expr:
        return self.binary_level(_ADDITIVE, self.multiplicative)

    def multiplicative(self) -> Expr:
        return self.binary_level(_MULTIPLICATIVE, self.unary)

    def unary(self) -> Expr:
        if self.at_word("not"):
            self.advance()
            return Unary("not", self.unary())
        return self.primary()

    def primary(self) -> Expr:
        token = self.current
        if token.kind == "punct" and token.text == "(":
            self.advance()
            inner = self.expression()
            self.expect(")")
            return inner
        if token.kind == "string":
            self.advance()
            return Literal(token.text, "string", token.text)
        if token.kind == "typed":
            self.advance()
            return self.typed_literal(token)
        if token.kind == "number":
            self.advance()
            return self.number(token)
        if token.kind == "name":
            return self.name_expression()
        found = token.text or "конец выражения"
        raise FilterSyntaxError(f"ожидалось выражение, найдено {found!r}", token.position)

    def typed_literal(self, token: Token) -> Literal:
        if token.prefix == "guid":
            guid = normalize_guid(token.text)
            if guid is None:
                raise LiteralSyntaxError(f"guid'{token.text}'", token.position)
            return Literal(guid, "guid", token.text)
        if token.prefix == "datetime":
            stamp = normalize_datetime(token.text)
            if stamp is None:
                raise LiteralSyntaxError("datetime'…'", token.position)
            return Literal(stamp, "datetime", token.text)
        raise FilterSyntaxError(f"литерал {token.prefix}'…' не поддерживается", token.position)

    def number(self, token: Token) -> Literal:
        text = token.text.rstrip("LlMmDdFf")
        try:
            value: object = int(text) if re.fullmatch(r"-?\d+", text) else Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise FilterSyntaxError(f"неверное число {token.text}", token.position) from exc
        return Literal(value, "number", token.text)

    def name_expression(self) -> Expr:
        token = self.advance()
        if token.text in ("true", "false"):
            return Literal(token.text == "true", "bool", token.text)
        if token.text == "null":
            return Literal(None, "null", token.text)
        if self.current.kind == "punct" and self.current.text == "(":
            self.advance()
            args: list[Expr] = []
            if not (self.current.kind == "punct" and self.current.text == ")"):
                args.append(self.expression())
                while self.current.kind == "punct" and self.current.text == ",":
                    self.advance()
                    args.append(self.expression())
            self.expect(")")
            return Call(token.text, tuple(args), token.position)
        parts = [token.text]
        while self.current.kind == "punct" and self.current.text == "/":
            self.advance()
            segment = self.current
            if segment.kind != "name":
                raise FilterSyntaxError("после '/' ожидалось имя", segment.position)
            self.advance()
            if segment.text in ("any", "all") and self.current.text == "(":
                return self.lambda_call(Path(tuple(parts), token.position), segment.text)
            parts.append(segment.text)
        return Path(tuple(parts), token.position)

    def lambda_call(self, collection: Path, quantifier: str) -> Lambda:
        self.expect("(")
        if self.current.kind == "punct" and self.current.text == ")":
            self.advance()
            return Lambda(collection, quantifier, "", None)
        variable = self.advance()
        if variable.kind != "name":
            raise FilterSyntaxError("ожидалось имя переменной лямбды", variable.position)
        self.expect(":")
        body = self.expression()
        self.expect(")")
        return Lambda(collection, quantifier, variable.text, body)



@lru_cache(maxsize=256)
def parse_filter(text: str) -> Expr:
    """Parse a whole `$filter` value (already percent-decoded).

    Kept per text (the tree is immutable): a list query reads its filter three times (the
    planner's two row sources and the compiled predicate), and a client pages or repeats
    the same filter; a 64-key look-up took some 5 ms to parse each time.
    """
    parser = _Parser(text)
    if parser.current.kind == "end":
        raise FilterSyntaxError("пустое выражение", 0)
    expr = parser.expression()
    parser.finish()
    return expr


def parse_orderby(text: str) -> list[tuple[Expr, bool]]:
    """Parse `$orderby` into ``(expression, descending)`` items."""
    parser = _Parser(text)
    items: list[tuple[Expr, bool]] = []
    while True:
        expr = parser.additive()
        descending = False
        if parser.at_word("asc", "desc"):
            descending = parser.advance().text == "desc"
        items.append((expr, descending))
        if parser.current.kind == "punct" and parser.current.text == ",":
            parser.advance()
            continue
        parser.finish()
        return items
