"""Mapping: declarative field mapping between a remote schema and the canonical model."""

from __future__ import annotations

from crm_bridge.registry import Registry
from mapping.compile import CompiledMapping, compile_mapping
from mapping.spec import FieldSpec, MappingSpec, load_mapping

__all__ = ["CompiledMapping", "FieldSpec", "MappingSpec", "compile_mapping", "load_mapping", "register"]


def register(registry: Registry) -> None:
    """Nothing yet: custom transforms arrive as ``usage="mapping.transform"`` components."""
