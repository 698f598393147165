"""YAML files that remember where every value came from.

``load_yaml`` returns the data plus a map from each value's path (a tuple of keys and
list indexes) to its ``Position`` in the file, so any later error about a field can say
``crm-bridge.yaml:12:5``. ``${VAR}`` and ``${VAR:-default}`` in strings are replaced from
the environment; a missing variable is an error at the place it is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crm_bridge.errors import ConfigError

__all__ = ["Path_", "Position", "YamlDocument", "load_yaml", "parse_yaml"]

Path_ = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Position:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class YamlDocument:
    """Parsed YAML with the position of every key and value."""

    file: str
    data: Any
    positions: dict[Path_, Position]

    def where(self, path: Path_) -> Position:
        """Position of `path`, or of its nearest ancestor that exists in the file."""
        for cut in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:cut]))
            if found is not None:
                return found
        return Position(self.file, 1, 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader: no Python object tags, no arbitrary constructors."""


def _walk(node: yaml.Node, path: Path_, doc: YamlDocument, loader: _Loader, environ: Mapping[str, str]) -> Any:
    doc.positions[path] = Position(doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ConfigError(f"{doc.positions[path]}: a key must be a plain value, not {type(key).__name__}")
            skey = "null" if key is None else str(key)  # a value map's `null:` entry: the empty value
            child = (*path, skey)
            if skey in result:
                where = Position(doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                raise ConfigError(f"{where}: key {skey!r} appears twice; keep one")
            result[skey] = _walk(value_node, child, doc, loader, environ)
            doc.positions[child] = Position(doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), doc, loader, environ) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and "${" in value:
        value = _interpolate(value, doc.positions[path], environ)
    return value


def _interpolate(text: str, where: Position, environ: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        msg = (
            f"{where}: environment variable {name} is not set; export it "
            f"(e.g. export {name}=...) or write ${{{name}:-default}}"
        )
        raise ConfigError(msg)

    return _ENV.sub(replace, text)


def parse_yaml(text: str, file: str, environ: Mapping[str, str] | None = None) -> YamlDocument:
    """Parse `text` (named `file` in messages)."""
    doc = YamlDocument(file, None, {})
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc.data = {} if node is None else _walk(node, (), doc, loader, os.environ if environ is None else environ)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ConfigError(f"{where}: not valid YAML: {exc.problem}") from exc
    finally:
        loader.dispose()
    return doc


def load_yaml(path: Path, environ: Mapping[str, str] | None = None, *, create_with: str = "crm-bridge init") -> YamlDocument:
    """Read and parse the YAML file at `path`; a missing one is an error naming `create_with`,
    the command that writes such a file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file; create one with `{create_with}`") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    return parse_yaml(text, str(path), environ)
