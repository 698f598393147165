"""Mapping: declarative field mapping between a remote schema and the canonical model.

Load, check, compile::

    found = read_mapping(Path("ticket.yaml"))
    problems = check_mapping(found, facts=RemoteFacts(entities=backend.describe()))
    compiled = compile_mapping(found.spec)
    fields = compiled.to_canonical(record.values, resolve, creating=True)

Addons add transforms with ``registry.add(fn, usage="mapping.transform", name="x")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, Registry, lazy_exports
from mapping.transforms import bind_registry

if TYPE_CHECKING:
    from mapping.compile import CompiledMapping, compile_mapping
    from mapping.load import load_mapping
    from mapping.remote import RecordSource, RemoteSchema
    from mapping.spec import (
        ChildSpec,
        FieldSpec,
        MappingFile,
        MappingSpec,
        mapping_from_text,
        read_mapping,
    )
    from mapping.validate import RemoteFacts, check_mapping

__all__ = [
    "ChildSpec",
    "CompiledMapping",
    "FieldSpec",
    "MappingFile",
    "MappingSpec",
    "RecordSource",
    "RemoteFacts",
    "RemoteSchema",
    "check_mapping",
    "compile_mapping",
    "load_mapping",
    "mapping_from_text",
    "read_mapping",
    "register",
]
__getattr__ = lazy_exports(__name__, {
    "CompiledMapping": "mapping.compile", "compile_mapping": "mapping.compile",
    "RecordSource": "mapping.remote", "RemoteSchema": "mapping.remote",
    **dict.fromkeys(["ChildSpec", "FieldSpec", "MappingFile", "MappingSpec", "mapping_from_text", "read_mapping"],
                    "mapping.spec"),
    "load_mapping": "mapping.load",
    "RemoteFacts": "mapping.validate", "check_mapping": "mapping.validate",
})


def register(registry: Registry) -> None:
    """Bind the registry (addon transforms), add the ``mapping`` command group and the
    mapping files' own findings to ``crm-bridge check`` (by name: imported when used)."""
    bind_registry(registry)
    registry.add(Lazy("mapping.cli:mapping_app", summary="Check, preview and suggest field mappings."),
                 usage="cli.group", name="mapping")
    registry.add(Lazy("mapping.cli:check_findings"), usage="check.backend", name="mappings")
