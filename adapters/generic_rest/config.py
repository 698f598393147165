"""The ``rest`` backend kind: a connector file, the mappings for it, and the bounds.

Example::

    backends:
      helpline:
        kind: rest
        connector: connectors/helpline.yaml     # relative to this configuration file
        mappings: mappings/helpline             # <model>.yaml, entity: a resource of the connector
        models: [customer, ticket]
        token_file: state/helpline-tokens.json  # OAuth kinds: where rotated tokens are kept

The connector file is read and checked with the configuration: its mistakes come with
its own file:line:column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from adapters.generic_rest.connector import Connector, RefreshTokenAuth, load_connector
from crm_bridge.config import BackendBase, Strict

__all__ = ["RestConfig", "RestTimeouts", "WebhooksConfig"]


class RestTimeouts(Strict):
    """Seconds: opening a connection, each wait for bytes, and the whole exchange."""

    connect: float = Field(default=5.0, gt=0, le=300)
    read: float = Field(default=30.0, gt=0, le=3600)
    total: float = Field(default=120.0, gt=0, le=86400)


def _resolved(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    return value if value.is_absolute() or base is None else Path(base) / value


class RestConfig(BackendBase):
    kind: Literal["rest"]
    connector: Path
    mappings: Path
    models: list[str] = Field(default=["customer", "contact", "agent", "ticket"], min_length=1)
    timeout: RestTimeouts = RestTimeouts()
    max_answer_mb: int = Field(default=64, ge=1, le=2048)
    attempts: int = Field(default=4, ge=1, le=20)  # per call, before the job or the outbox tries again later
    token_file: Path | None = None
    loaded: Connector | None = Field(default=None, exclude=True)  # the connector file, read by the validator

    @field_validator("connector", "mappings", "token_file")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolved(value, info)

    @field_validator("mappings")
    @classmethod
    def _folder(cls, value: Path) -> Path:
        if not value.is_dir():
            msg = f"{value}: no such folder; put the <model>.yaml mapping files there (crm-bridge mapping suggest writes them)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _load(self) -> RestConfig:
        connector = load_connector(self.connector)  # ConfigErrors with the connector's own file:line
        if isinstance(connector.auth, RefreshTokenAuth) and self.token_file is None:
            msg = ("the connector's auth rotates refresh tokens: set token_file (e.g. state/tokens.json) so each new "
                   "one outlives a restart")
            raise ValueError(msg)
        object.__setattr__(self, "loaded", connector)  # frozen model: set once, here
        return self


class WebhooksConfig(Strict):
    """The ``webhooks:`` section: where ``crm-bridge run`` listens for the CRMs' pings.

    Example::

        webhooks:
          listen: 0.0.0.0:8089      # POST /webhooks/<backend>; put TLS in front (nginx, caddy)
          settle: 1.0               # seconds a burst of pings is gathered before the records are read

    Without ``listen`` no receiver runs; the periodic sync finds every change anyway.
    """

    listen: str | None = None
    settle: float = Field(default=1.0, ge=0, le=60)
    max_body_kb: int = Field(default=256, ge=1, le=10_240)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            msg = f"listen {value!r}: write host:port, e.g. 127.0.0.1:8089 (port 0: any free port)"
            raise ValueError(msg)
        return value

    @property
    def address(self) -> tuple[str, int]:
        assert self.listen is not None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)
