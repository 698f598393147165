"""The ``web:`` configuration section: where the pages listen, who may see the dashboard.

::

    web:
      host: 127.0.0.1                          # behind a reverse proxy; 0.0.0.0 to listen on every address
      port: 8080
      session_secret: ${CRM_BRIDGE_SESSION_SECRET}   # 32+ characters; signs login cookies and form tokens
      session_hours: 8                         # a login lasts this long, then the supervisor logs in again
      users:                                   # hashes from `crm-bridge web hash-password`
        lead: {password_hash: "$argon2id$v=19$m=65536,t=3,p=4$...", name: "Старший смены"}
      proxy:                                   # or: the reverse proxy has logged the person in
        header: X-Remote-User
        trusted: [127.0.0.1/32, "10.0.0.0/8"]  # only requests from these addresses may carry it
      templates: web-templates                 # your folder, searched before the shipped pages
      reopen_status: in_progress               # a request its customer reopens from the resolved mail goes here

Customer links are signed with ``links.secret`` (``crm_bridge.links``), not with this
section's key: notify makes them without the web addon.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from crm_bridge.config import Strict, config_problem, user_folder
from crm_bridge.links import MIN_SECRET

__all__ = ["ProxyLogin", "User", "WebConfig"]

_LOGIN = re.compile(r"[A-Za-z0-9_.@+-]{1,100}")


class User(Strict):
    """A supervisor who logs in with a password; only its Argon2 hash is configured."""

    password_hash: SecretStr
    name: str | None = None  # shown on the pages; default: the login

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: SecretStr) -> SecretStr:
        from argon2 import extract_parameters
        from argon2.exceptions import InvalidHashError

        try:
            extract_parameters(value.get_secret_value())
        except (InvalidHashError, ValueError) as exc:
            msg = ("is not an Argon2 hash (it starts with $argon2id$); make one with "
                   "`crm-bridge web hash-password` and paste its output here")
            raise ValueError(msg) from exc
        return value


class ProxyLogin(Strict):
    """A reverse proxy that authenticated the person and names them in a header."""

    header: str = Field(min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    trusted: list[IPv4Network | IPv6Network] = Field(min_length=1)

    def admits(self, client: str | None) -> bool:
        """Whether a request from address `client` may name its user in the header."""
        if client is None:
            return False
        try:
            address = ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)


class WebConfig(Strict):
    """See the module docstring. Without ``users`` or ``proxy`` nobody can log in: the
    dashboard answers 403, the customer pages and ``/healthz`` work."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    session_secret: SecretStr | None = None
    session_hours: int = Field(default=8, ge=1, le=24 * 30)
    users: dict[str, User] = {}
    proxy: ProxyLogin | None = None
    templates: Path | None = None
    # where a request goes when its customer reopens it from the resolved mail's link
    reopen_status: Literal["new", "in_progress", "waiting_customer"] = "in_progress"

    @field_validator("users")
    @classmethod
    def _logins(cls, value: dict[str, User]) -> dict[str, User]:
        for login in value:
            if not _LOGIN.fullmatch(login):
                raise config_problem((login,), "a login is letters, digits and _.@+- (at most 100)")
        return value

    @field_validator("templates")
    @classmethod
    def _folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return user_folder(value, info, "web/templates")

    @model_validator(mode="after")
    def _secret(self) -> WebConfig:
        needs = "users" if self.users else "proxy" if self.proxy is not None else None
        if needs is None:
            return self
        if self.session_secret is None:
            raise config_problem((needs,), "needs `session_secret: ${CRM_BRIDGE_SESSION_SECRET}` (32+ random "
                                           "characters) to sign login cookies and form tokens")
        if len(self.session_secret.get_secret_value()) < MIN_SECRET:
            raise config_problem(("session_secret",), f"use at least {MIN_SECRET} random characters, e.g. "
                                                      "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return self

    @property
    def login_enabled(self) -> bool:
        return bool(self.users) or self.proxy is not None
