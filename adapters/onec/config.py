"""Configuration of a 1C backend reached over the standard OData interface."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl, SecretStr

from crm_bridge.config import BackendBase, Strict

__all__ = ["OneCODataConfig", "Timeouts"]


class Timeouts(Strict):
    """Seconds. 1C can take over 30 s on the first call after idle (session spin-up)."""

    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=60.0, gt=0)


class OneCODataConfig(BackendBase):
    """```yaml
    backends:
      crm:
        kind: onec_odata
        url: http://1c.example/crm/odata/standard.odata/
        username: Интеграция
        password: ${ONEC_PASSWORD}
        timezone: Europe/Moscow      # naive 1C dates are read in this zone
    ```"""

    kind: Literal["onec_odata"]
    url: HttpUrl
    username: str = Field(min_length=1)
    password: SecretStr
    timeout: Timeouts = Timeouts()
    page_size: int = Field(default=1000, ge=1, le=10000)
    mappings: str | None = None  # folder with <model>.yaml; default: the shipped 1C:CRM mappings
    models: list[str] = ["customer", "contact", "agent", "ticket"]
    # version_scan: list (Ref_Key, DataVersion, DeletionMark) only and read changed records
    # in full — 1C has no modified-at field; full: read every record on every pass.
    change_detection: Literal["version_scan", "full"] = "version_scan"
    scan_page_size: int = Field(default=5000, ge=1, le=50000)
