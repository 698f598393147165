"""Fixtures for the mapping tests: the demo 1C schema (from the emulator's EDMX, through
the adapter's ``describe``) and mapping files written to a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.onec.adapter import OneCBackend
from adapters.onec.config import OneCODataConfig
from adapters.onec.metadata import Metadata, parse_metadata
from mapping.spec import MappingFile, read_mapping

EDMX = Path(__file__).parents[3] / "adapters" / "onec" / "emulator" / "data" / "metadata.edmx"
SHIPPED = Path(__file__).parents[3] / "adapters" / "onec" / "data" / "mappings"


class MetadataOnly:
    """An OData client that only knows ``$metadata`` (no socket)."""

    def __init__(self) -> None:
        self.meta = parse_metadata(EDMX.read_bytes())

    def metadata(self, *, refresh: bool = False) -> Metadata:
        return self.meta

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def onec_schema() -> dict[str, dict[str, str]]:
    config = OneCODataConfig(kind="onec_odata", url="http://1c.test/crm/odata/standard.odata/", username="u", password="p")  # type: ignore[arg-type]
    backend = OneCBackend("demo-1c", config, client=MetadataOnly())  # type: ignore[arg-type]
    return backend.describe()


@pytest.fixture(scope="session")
def onec_references() -> dict[str, dict[str, str]]:
    config = OneCODataConfig(kind="onec_odata", url="http://1c.test/crm/odata/standard.odata/", username="u", password="p")  # type: ignore[arg-type]
    backend = OneCBackend("demo-1c", config, client=MetadataOnly())  # type: ignore[arg-type]
    return backend.describe_references()


Write = Callable[..., MappingFile]


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Write:
    """Write a mapping file and read it back; messages name it relative to the test folder."""
    monkeypatch.chdir(tmp_path)

    def _write(text: str, name: str = "ticket.yaml", **_: Any) -> MappingFile:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"), encoding="utf-8")
        return read_mapping(path)

    return _write
