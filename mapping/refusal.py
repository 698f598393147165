"""Why the remote refused to read a mapping: the problems ``mapping check`` would report.

1C answers a ``$select`` naming a field it does not publish with "HTTP 400, 1C code 6:
Неправильный адрес ресурса или параметр запроса: 'Темаа'" — true, but it names neither
the mapping file nor the line, nor the published name that was meant. When a read is
refused, ``preview`` and the import ask the metadata which names of the mapping file the
remote does not publish, and say that instead, as ``mapping check`` does::

    mappings/crm/ticket.yaml:11:13: fields.subject.from: Document_Интерес has no field 'Темаа'. Did you mean 'Тема'? ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm_bridge.errors import ConfigError, RemoteError
from mapping.facts import RemoteFacts
from mapping.lengths import is_warning
from mapping.spec import read_mapping
from mapping.validate import check_mapping

__all__ = ["refusal_problems"]


def refusal_problems(source: Any, name: str, path: Path) -> list[str]:
    """The problems of the mapping file at `path` against what backend `name` (`source`)
    publishes, each as ``file:line:column: field: message`` with "did you mean"; empty when
    the source has no metadata, its metadata cannot be read, or the file has no such
    problem (the refusal is something else: the caller says it as it came)."""
    describe = getattr(source, "describe", None)
    if describe is None or not path.is_file():
        return []
    try:
        entities = describe()
        found = read_mapping(path)
    except (RemoteError, ConfigError):
        return []
    facts = RemoteFacts(entities=entities, origin=f"backend {name!r}")
    return [p for p in check_mapping(found, facts=facts) if not is_warning(p)]
