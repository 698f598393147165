"""The ``intake:`` configuration section: where mail comes in, and the rules that read it.

::

    intake:
      smtp:                                    # a local SMTP receiver (aiosmtpd)
        host: 127.0.0.1
        port: 2525
        max_bytes: 26214400                    # a bigger message is refused with 552
        recipients: [support@example.ru]       # other recipients are refused with 550; []: any
      imap:                                    # and/or a mailbox read over IMAP
        host: imap.example.ru
        port: 993
        tls: true
        username: support@example.ru
        password: ${IMAP_PASSWORD}
        folder: INBOX
        processed_folder: Processed            # stored messages are moved here; none: flagged \\Seen
        idle: true                             # IMAP IDLE where the server offers it
      max_attachment: 10000000                 # bytes; a bigger attachment is listed, not kept
      repeat_window: 3d                        # same customer, same topic, request open: linked
      number_prefix: CRM                       # the CRM's numbers: CRM-0000042
      flood: {messages: 20, within: 1h}        # more from one sender: ignored, with the reason
      web:                                     # the public form /request (mounted in the web addon)
        max_bytes: 12000000                    # a bigger submission (attachments included): refused, nothing stored
        rate: {requests: 5, within: 10m}       # per client address, in the web process's memory
      api:                                     # POST /api/intake/requests for internal systems
        tokens:
          erp: ${ERP_INTAKE_TOKEN}             # source internal
          portal: {token: ${PORTAL_TOKEN}, source: external}
      rules:                                   # ordered: the first that matches decides
        - {name: outage, keywords: [не работает, авария, outage, down], type: technical_problem, priority: high}
        - {name: vip, segments: [vip], priority: high}
        - {name: billing, keywords: [счёт, оплата, invoice], type: consultation}
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from crm_bridge.config import Strict, config_problem
from crm_bridge.model import Priority, TicketType
from notify.settings import mailbox
from sla.policy import Duration

__all__ = ["ApiChannel", "ApiToken", "Flood", "ImapMailbox", "IntakeConfig", "Rate", "Rule", "SmtpReceiver", "WebForm"]

TypeName = Literal["technical_problem", "consultation", "feedback", "urgent", "other"]
PriorityName = Literal["low", "normal", "high", "urgent"]
assert set(TypeName.__args__) == {t.value for t in TicketType}  # type: ignore[attr-defined]  # noqa: S101
assert set(PriorityName.__args__) == {p.value for p in Priority}  # type: ignore[attr-defined]  # noqa: S101


class SmtpReceiver(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)  # 0: any free port (tests)
    max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    recipients: list[str] = []

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [mailbox(v).lower() for v in value]


class ImapMailbox(Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=993, ge=1, le=65535)
    tls: bool = True
    username: str = Field(min_length=1)
    password: SecretStr
    folder: str = "INBOX"
    processed_folder: str | None = None
    idle: bool = True
    timeout: float = Field(default=30.0, gt=0, le=600)


class Rule(Strict):
    """One classification rule: every condition given must hold; it sets type, priority or both."""

    name: str = Field(min_length=1)
    keywords: list[str] = []
    channels: list[str] = []
    senders: list[str] = []  # addresses or "@domain.ru"
    customers: list[int] = []  # local customer ids
    contracts: list[str] = []
    segments: list[str] = []
    subject: str | None = None  # a regular expression
    type: TypeName | None = None
    priority: PriorityName | None = None

    @model_validator(mode="after")
    def _decides(self) -> Rule:
        if self.type is None and self.priority is None:
            msg = f"rule {self.name!r} decides nothing: give it `type:`, `priority:` or both"
            raise ValueError(msg)
        return self

    @field_validator("subject")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                msg = f"{value!r} is not a regular expression: {exc}"
                raise ValueError(msg) from exc
        return value


class Flood(Strict):
    """More than `messages` from one sender within `within`: the rest are ignored, with the reason."""

    messages: int = Field(default=20, ge=1)
    within: Duration = timedelta(hours=1)


class Rate(Strict):
    """At most `requests` form submissions from one client address within `within`."""

    requests: int = Field(default=5, ge=1)
    within: Duration = timedelta(minutes=10)


class WebForm(Strict):
    """The public form ``/request``: channel ``web``, source ``external``."""

    max_bytes: int = Field(default=12_000_000, ge=1024)  # the whole submission, attachments included
    rate: Rate = Rate()


class ApiToken(Strict):
    token: SecretStr
    source: Literal["internal", "external"] = "internal"


class ApiChannel(Strict):
    """``POST /api/intake/requests``: each caller a named bearer token; channel ``api``."""

    tokens: dict[str, SecretStr | ApiToken] = Field(min_length=1)
    max_bytes: int = Field(default=12_000_000, ge=1024)

    @field_validator("tokens")
    @classmethod
    def _long_tokens(cls, value: dict[str, SecretStr | ApiToken]) -> dict[str, SecretStr | ApiToken]:
        secrets = []
        for name, given in value.items():
            secret = (given.token if isinstance(given, ApiToken) else given).get_secret_value()
            if len(secret) < 24:
                raise config_problem((name,), f"the token of {name!r} is {len(secret)} characters; give it 24+ random "
                                              "ones (python -c 'import secrets; print(secrets.token_urlsafe(32))')")
            secrets.append(secret)
        if len(set(secrets)) != len(secrets):
            raise config_problem((), "two callers share one token: the source of a request could not be told apart")
        return value

    def caller(self, secret: str) -> tuple[str, str] | None:
        """(name, source) of the caller whose token is `secret`, compared in constant time; else None."""
        found = None
        for name, given in self.tokens.items():
            token, source = (given.token, given.source) if isinstance(given, ApiToken) else (given, "internal")
            if hmac.compare_digest(token.get_secret_value().encode(), secret.encode()):
                found = (name, source)
        return found


class IntakeConfig(Strict):
    smtp: SmtpReceiver | None = None
    imap: ImapMailbox | None = None
    max_attachment: int = Field(default=10_000_000, ge=0)
    repeat_window: Duration = timedelta(days=3)
    number_prefix: str = Field(default="CRM", pattern=r"^[A-ZА-Я]{2,5}$")
    default_type: TypeName = "other"
    default_priority: PriorityName = "normal"
    rules: list[Rule] = []
    batch: int = Field(default=200, ge=1, le=10_000)  # inbox messages decided per run
    flood: Flood = Flood()
    web: WebForm | None = None
    api: ApiChannel | None = None

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for index, rule in enumerate(value):
            if rule.name in seen:
                raise config_problem((index, "name"), f"two rules are named {rule.name!r}: `intake explain` names the "
                                                      "rule that decided, so names must differ")
            seen.add(rule.name)
        return value

    @property
    def enabled(self) -> bool:
        return any(c is not None for c in (self.smtp, self.imap, self.web, self.api))
