"""YAML files that remember where every value came from, read within fixed bounds.

``load_yaml`` returns the data plus a map from each value's path (a tuple of keys and
list indexes) to its ``Position`` in the file, so any later error about a field can say
``crm-bridge.yaml:12:5``. ``${VAR}`` and ``${VAR:-default}`` in strings are replaced from
the environment; a missing variable is an error at the place it is used. A ``$VAR`` or an
unclosed ``${VAR`` is kept as written (a password may hold a ``$``) but noted in
``YamlDocument.warnings``: it is most often a ``${VAR}`` mistyped, and the only other sign
would be the remote's "401" much later.

A syntax error is reported where the mistake is made, not where the parser gave up: an
unclosed bracket or quote at the line and column where it opens, a tab with the hint that
YAML indents with spaces.

The configuration and the mapping files are input a person (or a script) writes, so the
reader refuses what could exhaust the machine, each refusal naming file:line, the limit
and the fix (``YamlLimits``): a file over 16 MiB, more than a million values, nesting
deeper than 64 levels, and aliases that expand to more than 10,000 values (a
"billion laughs" file of 700 bytes otherwise grows to gigabytes). Anchors and aliases
stay usable for what they are for — repeating a small value, e.g. a day's working hours
``mon: &day ["09:00-13:00", "14:00-18:00"], tue: *day`` — and an alias inside the value
it names (``&r [*r]``) is an error at the alias.

The file is read as a stream of parser events (libyaml's when installed) and built in
one pass with an explicit stack: no recursion, so no input depth can overflow Python's.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crm_bridge.errors import ConfigError

__all__ = ["Path_", "Position", "YamlDocument", "YamlLimits", "collector_paused", "load_yaml", "parse_yaml"]

Path_ = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# What is left after interpolation and looks like a variable meant: `$NAME`, or `${NAME`
# without its closing brace.
_ALMOST_ENV = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# A password hash in modular-crypt form (``$argon2id$v=19$...``, bcrypt's ``$2b$12$...``,
# web.users) is full of `$name`: it is meant as written, not a mistyped ${VAR}.
_HASH = re.compile(r"\$(argon2(id|i|d)|2[aby])\$")
_SECRET_WORDS = ("password", "secret", "token", "key")


@dataclass(frozen=True, slots=True)
class Position:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """What one YAML file may hold. The defaults are far above any real configuration
    (10,000 SLA policies: 2.8 MB, 170,000 values, 7 levels) and far below what hurts."""

    max_bytes: int = 16 * 1024 * 1024
    max_values: int = 1_000_000  # scalars, lists and mappings, aliases expanded
    max_depth: int = 64
    max_alias_values: int = 10_000  # values all aliases of the file expand to, together


@dataclass
class YamlDocument:
    """Parsed YAML with the position of every key and value."""

    file: str
    data: Any
    positions: dict[Path_, Any]  # path -> the parser's mark (0-based .line and .column); see `where`
    # Things kept as written that are probably mistakes ("$VAR" for "${VAR}"), one line
    # each with file:line:column; the caller shows them (the CLI on stderr).
    warnings: list[str] = field(default_factory=list)

    def where(self, path: Path_) -> Position:
        """Position of `path`, or of its nearest ancestor that exists in the file.

        A value reached through an alias has the position of the alias: ``tue: *day``
        reports a problem in ``tue[1]`` at ``tue:``."""
        for cut in range(len(path), -1, -1):
            mark = self.positions.get(tuple(path[:cut]))
            if mark is not None:
                return Position(self.file, mark.line + 1, mark.column + 1)
        return Position(self.file, 1, 1)


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses ~10x faster


class _Loader(_Base):  # type: ignore[misc]
    """A safe loader (no Python object tags) used only for its event parser, its implicit
    type resolver and its scalar constructors."""


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_CONTAINER_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_IMMUTABLE = (str, int, float, bool, type(None))
_NOT_A_KEY = "a key must be a plain value (text or a number), not a list or a mapping"


@dataclass
class _Open:
    """A mapping or list being built: its path, where it began and, for a mapping, the key
    waiting for its value."""

    value: Any  # dict[str, Any] | list[Any]
    path: Path_
    mark: Any
    anchor: str | None
    first_value: int  # the document's value count when this container began
    is_list: bool
    key: str | None = None
    key_mark: Any = None


@dataclass
class _Anchored:
    value: Any
    values: int  # how many values it holds, itself included


class _Builder:
    """Builds the document from parser events, counting values, depth and alias expansion.

    The loop in ``build`` runs once per event of the file (380,000 for 10,000 policies), so
    it keeps its state in locals and leaves the rare cases (tags, anchors, errors) to methods.
    """

    def __init__(self, file: str, loader: Any, environ: Mapping[str, str], limits: YamlLimits) -> None:
        self.file, self.loader, self.environ, self.limits = file, loader, environ, limits
        self.anchors: dict[str, _Anchored] = {}
        self.from_aliases = 0
        self.plain: dict[str, Any] = {}  # plain scalar text -> its value, when immutable
        self.doc_warnings: list[str] = []

    def at(self, mark: Any) -> Position:
        return Position(self.file, mark.line + 1, mark.column + 1)

    def fail(self, mark: Any, message: str) -> ConfigError:
        return ConfigError(f"{self.at(mark)}: {message}")

    def too_many(self, mark: Any) -> ConfigError:
        return self.fail(mark, f"the file holds more than {self.limits.max_values:,} values, the most a "
                               "configuration file may have; split it, or look for a generated section that "
                               "repeats without end")

    def scalar(self, event: Any, top: _Open | None) -> Any:
        """The value of a scalar that is not plain untagged text seen before; `top` is the
        container it goes into (for the field name in messages about ``${VAR}``)."""
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR:
            value: Any = text
        else:
            construct = self.loader.yaml_constructors.get(tag)
            if tag == _MERGE:
                raise self.fail(event.start_mark, "merge keys (<<: *name) are not supported; write the keys out")
            if construct is None:
                raise self.fail(event.start_mark, f"tag {tag} is not allowed here; remove it")
            value = construct(self.loader, yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style))
        if isinstance(value, str) and "$" in value:
            value = self.interpolate(value, event.start_mark, top)
        elif event.tag is None and event.implicit[0] and isinstance(value, _IMMUTABLE):
            self.plain[text] = value
        return value

    def interpolate(self, text: str, mark: Any, top: _Open | None) -> str:
        """`text` with each ``${VAR}`` replaced; a missing variable without default is an
        error, a ``$VAR`` or unclosed ``${VAR`` a warning (kept as written)."""
        where = self.at(mark)
        if top is None:
            dotted = "(top level)"
        elif top.is_list:
            dotted = ".".join(str(p) for p in (*top.path, len(top.value)))
        else:
            dotted = ".".join(str(p) for p in (*top.path, top.key)) if top.key is not None else ".".join(map(str, top.path))

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{where}: {dotted}: needs the environment variable {name}, which is not set; "
                              f"export {name}=... before running crm-bridge")

        out = _ENV.sub(replace, text)
        rest = _ENV.sub("", text)
        suspect = None if _HASH.match(text) else _ALMOST_ENV.search(rest)
        if suspect is not None:
            secret = any(w in dotted.lower() for w in _SECRET_WORDS)
            name = "NAME" if secret else suspect.group(1)  # a secret's text stays out of messages
            shown = "a `$` followed by a name" if secret else f"{suspect.group(0)!r}"
            self.doc_warnings.append(f"{where}: {dotted}: {shown} is kept as written, not read from the "
                                     f"environment; probably meant ${{{name}}}")
        return out

    def alias(self, event: Any, stack: list[_Open]) -> tuple[Any, int]:
        """A copy of the value an alias names and how many values it holds."""
        name, mark = event.anchor, event.start_mark
        if any(o.anchor == name for o in stack):
            raise self.fail(mark, f"alias *{name} is inside the value &{name} names, so it would repeat "
                                  "without end; write the value out instead")
        anchored = self.anchors.get(name)
        if anchored is None:
            raise self.fail(mark, f"alias *{name} names no anchor above it; define &{name} first")
        self.from_aliases += anchored.values
        if self.from_aliases > self.limits.max_alias_values:
            raise self.fail(mark, f"aliases in this file expand to more than {self.limits.max_alias_values:,} "
                                  "values, the most allowed; aliases are for repeating a small value (a day's "
                                  "hours) — write large repeated parts out")
        return _copy(anchored.value), anchored.values

    def build(self, doc: YamlDocument) -> None:
        loader, limits, positions, plain = self.loader, self.limits, doc.positions, self.plain
        self.doc_warnings = doc.warnings
        stack: list[_Open] = []
        top: _Open | None = None
        values, done = 0, False
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
        ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
        while True:
            event = loader.get_event()
            kind = type(event)
            mark = event.start_mark
            container = False
            if kind is scalar_event:
                values += 1
                text = event.value
                if event.tag is None and not event.implicit[0]:  # quoted or block text
                    value = text if "$" not in text else self.scalar(event, top)
                else:
                    value = plain.get(text, plain) if event.tag is None else plain
                    if value is plain:
                        value = self.scalar(event, top)
                if event.anchor is not None:
                    self.anchors[event.anchor] = _Anchored(value, 1)
            elif kind in starts:
                values += 1
                if event.tag not in _CONTAINER_TAGS:
                    raise self.fail(mark, f"tag {event.tag} is not allowed here; remove it")
                if top is None:
                    path: Path_ = ()
                elif top.is_list:
                    path = (*top.path, len(top.value))
                elif top.key is None:
                    raise self.fail(mark, _NOT_A_KEY)
                else:
                    path = (*top.path, top.key)
                if len(path) >= limits.max_depth:
                    raise self.fail(mark, f"nested deeper than {limits.max_depth} levels, the most a "
                                          "configuration file may have; flatten this part")
                positions[path] = mark
                is_list = kind is yaml.SequenceStartEvent
                top = _Open([] if is_list else {}, path, mark, event.anchor, values, is_list)
                stack.append(top)
                continue
            elif kind in ends:
                closed = stack.pop()
                top = stack[-1] if stack else None
                if closed.anchor is not None:
                    self.anchors[closed.anchor] = _Anchored(closed.value, values - closed.first_value + 1)
                value, mark, container = closed.value, closed.mark, True
            elif kind is alias_event:
                value, count = self.alias(event, stack)
                values += count
                container = isinstance(value, dict | list)
            elif kind is yaml.StreamEndEvent:
                return
            else:
                if kind is yaml.DocumentStartEvent and done:
                    raise self.fail(mark, "a second document (---) in the file; keep one document per file")
                continue
            if values > limits.max_values:
                raise self.too_many(mark)
            # Place the finished value: the document, a list item, a mapping's key or value.
            if top is None:
                doc.data, done = value, True
                if not container or kind is alias_event:
                    positions[()] = mark
            elif top.is_list:
                if not container or kind is alias_event:
                    positions[(*top.path, len(top.value))] = mark
                top.value.append(value)
            elif top.key is None:
                if container:
                    raise self.fail(mark, _NOT_A_KEY)
                key = "null" if value is None else str(value)  # a value map's `null:` entry: the empty value
                if key in top.value:
                    raise self.fail(mark, f"key {key!r} appears twice; keep one")
                top.key, top.key_mark = key, mark
            else:
                top.value[top.key] = value
                positions[(*top.path, top.key)] = top.key_mark
                top.key = None


def _copy(value: Any) -> Any:
    """A fresh copy of an aliased value, so no two places of the document share a list."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value



@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a document is built or validated.

    Both make hundreds of thousands of fresh, acyclic objects (10,000 policies: 170,000
    values, 40,000 models); the collector would otherwise walk the growing heap again and
    again, half of the load's time. Nothing built here can form a cycle to collect.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _char_at(text: str, mark: Any) -> str:
    lines = text.splitlines()
    if mark is None or mark.line >= len(lines) or mark.column >= len(lines[mark.line]):
        return ""
    char: str = lines[mark.line][mark.column]
    return char


def _quote_across_lines(text: str, failed: Any) -> tuple[str, Any, Any] | None:
    """The last quoted value before `failed` that runs over a line end: in a configuration
    file that is an unclosed quote whose value swallowed the lines up to the next quote,
    and the parser fails later, far from the mistake."""
    found: tuple[str, Any, Any] | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if failed is not None and token.start_mark.line > failed.line:
                break
            if (isinstance(token, yaml.ScalarToken) and token.style in ('"', "'")
                    and token.end_mark.line > token.start_mark.line):
                found = (token.style, token.start_mark, token.end_mark)
    except yaml.YAMLError:
        pass  # the scan stops at the same mistake; what it saw before is enough
    return found


def _open_bracket(text: str, failed: Any) -> tuple[str, Any] | None:
    """The innermost ``[`` or ``{`` still open where the parser failed, and its mark."""
    opened: list[tuple[str, Any]] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if failed is not None and (token.start_mark.line, token.start_mark.column) >= (failed.line, failed.column):
                break
            if isinstance(token, yaml.FlowSequenceStartToken | yaml.FlowMappingStartToken):
                opened.append(("[" if isinstance(token, yaml.FlowSequenceStartToken) else "{", token.start_mark))
            elif isinstance(token, yaml.FlowSequenceEndToken | yaml.FlowMappingEndToken) and opened:
                opened.pop()
    except yaml.YAMLError:
        pass  # the scan stops at the same mistake; what it saw before is enough
    return opened[-1] if opened else None


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> str:
    """One line for a YAML syntax error, placed where the mistake is made.

    The parser reports where it gave up (an unclosed quote: at the end of the file); for an
    unclosed bracket or quote the place to fix is where it opens, the context mark.
    """
    context, problem = exc.context or "", exc.problem or ""
    opened, failed = exc.context_mark, exc.problem_mark

    def at(mark: Any) -> str:
        return f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file

    if "\t" in problem or "tab" in problem or _char_at(text, failed) == "\t":
        return (f"{at(failed)}: a tab character; YAML indents with spaces, not tabs: replace the tab "
                "with spaces")
    across = _quote_across_lines(text, failed)
    if across is not None:
        char, start, end = across
        return (f"{at(start)}: the quote {char} opened here is closed only on line {end.line + 1}; "
                f"add the closing {char} at the end of this value")
    if context.startswith("while parsing a flow"):  # inside [...] or {...}: where the innermost one opens
        bracket = _open_bracket(text, failed) or (_char_at(text, opened), opened)
        if bracket[0] == "[":
            return f"{at(bracket[1])}: the list opened here with '[' is not closed; add ']' (or a ',' between its items)"
        if bracket[0] == "{":
            return f"{at(bracket[1])}: the mapping opened here with '{{' is not closed; add '}}' (or a ',' between its entries)"
    if context == "while scanning a quoted scalar" and opened is not None and "end of stream" in problem:
        quote = _char_at(text, opened) or '"'
        return f"{at(opened)}: the quote {quote} opened here is not closed; add the closing {quote}"
    if "mapping values are not allowed" in problem:
        return (f"{at(failed)}: a ':' followed by a space inside a value; put the value in quotes "
                "(key: \"a: b\") or, if it starts a new key, put it on its own line")
    if context.startswith("while parsing a block") and opened is not None:
        return (f"{at(failed)}: not valid YAML: {problem} (in the block that starts at line "
                f"{opened.line + 1}); indent this line with spaces exactly as the keys or items above it")
    return f"{at(failed or opened)}: not valid YAML: {problem or context}"


def _check_size(file: str, size: int, limits: YamlLimits) -> None:
    if size > limits.max_bytes:
        msg = (f"{file}:1:1: {size:,} bytes, more than the {limits.max_bytes:,} a configuration file may "
               "have; split it (mapping files: one per model) or look for a generated part that repeats")
        raise ConfigError(msg)


def parse_yaml(text: str, file: str, environ: Mapping[str, str] | None = None, *,
               limits: YamlLimits | None = None) -> YamlDocument:
    """Parse `text` (named `file` in messages) within `limits` (default ``YamlLimits()``).

    Raises:
        ConfigError: not YAML, a key twice, a missing environment variable, or a limit
            passed — each with file:line:column and what to change.
    """
    limits = limits or YamlLimits()
    # A character is at most 4 bytes: only text that might be too big is encoded to measure it.
    if len(text) * 4 > limits.max_bytes:
        _check_size(file, len(text.encode("utf-8", "surrogatepass")), limits)
    doc = YamlDocument(file, {}, {})
    loader = _Loader(text)
    try:
        with collector_paused():
            _Builder(file, loader, os.environ if environ is None else environ, limits).build(doc)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_problem(exc, text, file)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return doc


def load_yaml(path: Path, environ: Mapping[str, str] | None = None, *, create_with: str = "crm-bridge init",
              limits: YamlLimits | None = None) -> YamlDocument:
    """Read and parse the YAML file at `path`; a missing one is an error naming `create_with`,
    the command that writes such a file."""
    limits = limits or YamlLimits()
    try:
        _check_size(str(path), path.stat().st_size, limits)  # before reading it into memory
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file; create one with `{create_with}`") from exc
    except IsADirectoryError as exc:
        inside = path / "crm-bridge.yaml"
        hint = f": {inside}" if inside.is_file() else ""
        raise ConfigError(f"{path}: is a folder, not a file; give the path of the file in it{hint}") from exc
    except PermissionError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); give this user read access") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    return parse_yaml(text, str(path), environ, limits=limits)
