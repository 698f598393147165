"""Mapping: declarative field mapping between a remote schema and the canonical model.

Load, check, compile::

    found = read_mapping(Path("ticket.yaml"))
    problems = check_mapping(found, facts=RemoteFacts(entities=backend.describe()))
    compiled = compile_mapping(found.spec)
    fields = compiled.to_canonical(record.values, resolve, creating=True)

Addons add transforms with ``registry.add(fn, usage="mapping.transform", name="x")``.
"""

from __future__ import annotations

from crm_bridge.registry import Registry
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
from mapping.transforms import bind_registry
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


def register(registry: Registry) -> None:
    """Bind the registry (addon transforms), add the ``mapping`` command group and the
    mapping files' own findings to ``crm-bridge check``."""
    bind_registry(registry)
    from mapping.cli import mapping_app  # CLI only: typer stays out of the mapping core's import

    registry.add(mapping_app, usage="cli.group", name="mapping")
    from mapping.cli import check_findings

    registry.add(check_findings, usage="check.backend", name="mappings")
