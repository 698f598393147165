"""Load mapping files for use: read, validate (the checks that need no remote side) and
compile, once per version of a file.

This is the top of the mapping core: ``spec`` reads a file, ``validate`` checks it,
``compile`` turns it into functions; here the three meet, so none of them imports another
late to reach the rest.
"""

from __future__ import annotations

from pathlib import Path

from crm_bridge.config import ConfigErrors
from mapping.compile import CompiledMapping, compile_mapping
from mapping.spec import MappingSpec, read_mapping
from mapping.validate import check_offline

__all__ = ["compiled_file", "load_mapping"]


def load_mapping(path: Path) -> MappingSpec:
    """Read and validate one mapping file, checks that need no remote included.

    Raises:
        ConfigErrors: every problem, each with file:line:column, the field and a hint.
    """
    found = read_mapping(path)
    problems = found.problems + (check_offline(found) if found.spec is not None else [])
    if problems or found.spec is None:
        raise ConfigErrors(found.file, problems)
    return found.spec


_FILES: dict[str, tuple[int, CompiledMapping]] = {}  # mapping file -> (its mtime, compiled)


def compiled_file(path: Path) -> CompiledMapping:
    """The mapping file at `path`, read, validated and compiled once per version of it: a
    file edited while the bridge runs is read again at its next use.

    Raises:
        ConfigErrors: the file has problems (each with file:line:column).
    """
    stamp = path.stat().st_mtime_ns
    kept = _FILES.get(str(path))
    if kept is None or kept[0] != stamp:
        kept = _FILES[str(path)] = (stamp, compile_mapping(load_mapping(path)))
    return kept[1]
