"""The mapping file: how one remote entity maps to one canonical model, both directions.

```yaml
model: ticket                 # canonical model
entity: Document_Интерес      # remote entity set / resource
key: Ref_Key                  # remote id field
version: DataVersion          # opaque remote version (optional)
deleted: DeletionMark         # deletion flag (optional)
fields:
  number: Number                                   # shorthand: direct, owned by the remote
  subject: {from: Тема, transform: [strip]}
  type: {from: ВидОбращения, map: {ТехническаяПроблема: technical_problem}, default: other}
  customer_id: {from: Партнер_Key, ref: customer}  # resolved through the bindings
  resolution_due: {from: СрокИсполнения, owner: local}   # decided here, written back
```

Field ownership: ``remote`` fields are imported and never written; ``local`` fields are
decided by crm-bridge and written back (their remote value is not imported); ``newest``
fields go both ways, the most recent change winning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_bridge.config import validate_document
from crm_bridge.yamlfile import load_yaml

__all__ = ["FieldSpec", "Lookup", "MappingSpec", "load_mapping"]

Owner = Literal["remote", "local", "newest"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lookup(_Strict):
    """Read a referenced record's field instead of its key (1C state catalogs, enums-as-catalogs)."""

    entity: str
    field: str = "Description"


class FieldSpec(_Strict):
    source: str = Field(alias="from")
    transform: list[str] = []
    map: dict[str, Any] | None = None
    default: Any = "keep"  # for value maps: keep | ignore | a value
    ref: str | None = None
    lookup: Lookup | None = None
    owner: Owner = "remote"
    only_create: bool = False


class MappingSpec(_Strict):
    model: str
    entity: str
    key: str = "Ref_Key"
    version: str | None = None
    deleted: str | None = None
    fields: dict[str, FieldSpec]

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"from": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    def remote_fields(self) -> list[str]:
        """Every remote field the mapping reads or writes (for ``$select``)."""
        names = [self.key] + [n for n in (self.version, self.deleted) if n]
        names += [f.source for f in self.fields.values()]
        return list(dict.fromkeys(names))

    def references(self) -> set[str]:
        return {f.ref for f in self.fields.values() if f.ref}


def load_mapping(path: Path) -> MappingSpec:
    """Read and validate one mapping file; errors name file:line:column and the field."""
    return validate_document(load_yaml(path), MappingSpec)
