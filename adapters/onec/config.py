"""Configuration of a 1C backend: the standard OData interface (``onec_odata``) or a
company's own "changes since" web service (``onec_soap``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, SecretStr, field_validator, model_validator

from crm_bridge.config import BackendBase, Strict

__all__ = ["DEFAULT_WRITERS", "ExchangePlanConfig", "OneCODataConfig", "OneCSoapConfig", "SoapServiceNames", "Timeouts"]

def _no_login(url: HttpUrl) -> HttpUrl:
    if url.username or url.password:
        msg = "the URL carries a login; put it in username: and password: (the password as ${ENV_VAR}) instead"
        raise ValueError(msg)
    return url


# A 1C metadata name: letters (Cyrillic too), digits and "_", not starting with a digit.
_NAME = re.compile(r"^[^\W\d]\w*$")


class Timeouts(Strict):
    """Seconds. 1C can take over 30 s on the first call after idle (session spin-up).

    ``connect`` bounds opening the connection, ``read`` each wait for the next bytes, and
    ``total`` the whole exchange, from sending the request to the answer's last byte: a
    server (or a proxy) trickling an answer a byte at a time never meets ``read`` alone.
    """

    connect: float = Field(default=5.0, gt=0, le=300)  # bounded: `.inf` would wait for ever
    read: float = Field(default=60.0, gt=0, le=3600)
    total: float = Field(default=300.0, gt=0, le=86400)


class ExchangePlanConfig(Strict):
    """The exchange plan whose change registrations ``change_detection: exchange_plan`` reads.

    In 1C: an exchange plan listing the tracked objects, included in the standard OData
    interface content, and a node for crm-bridge (not the base's own node) with this code.
    """

    # Lengths keep the checkpoint stream "feed:<name>/<node>" within its 100 characters.
    name: str = Field(default="CRMBridge", max_length=60)  # the plan's metadata name, as in ExchangePlan_<name>
    node: str = Field(default="CRMB", min_length=1, max_length=30)  # the node's Code
    # Object types (e.g. Catalog_Контрагенты) the plan tracks but no mapping covers, read
    # and deliberately let go. Any other unmapped type stops the feed until it is resolved.
    ignore_types: list[str] = []
    # The largest package read (1C decides the package size; the body is streamed and cut
    # off here). A bigger package is a problem of the feed: parked, version scans stand in.
    max_package_mb: int = Field(default=64, ge=1, le=2048)

    @field_validator("name")
    @classmethod
    def _plan_name(cls, value: str) -> str:
        if value.startswith("ExchangePlan_"):
            msg = f"write the plan's name without the ExchangePlan_ prefix: {value.removeprefix('ExchangePlan_')!r}"
            raise ValueError(msg)
        if not _NAME.match(value):
            msg = (f"{value!r} is not a 1C metadata name (letters, digits and _, not starting with a digit); "
                   "use the exchange plan's name from the configurator, e.g. CRMBridge")
            raise ValueError(msg)
        return value

    @field_validator("node")
    @classmethod
    def _node_code(cls, value: str) -> str:
        if value != value.strip():
            msg = f"node code {value!r} has leading or trailing spaces; 1C compares codes exactly"
            raise ValueError(msg)
        return value

    @field_validator("ignore_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for name in value:
            bare = name.removeprefix("StandardODATA.")
            if not _NAME.match(bare) or "_" not in bare:
                msg = f"{name!r} is not a 1C object type; write it as the entity set is named, e.g. Catalog_Контрагенты"
                raise ValueError(msg)
        return [name.removeprefix("StandardODATA.") for name in value]


class OneCODataConfig(BackendBase):
    """```yaml
    backends:
      crm:
        kind: onec_odata
        url: http://1c.example/crm/odata/standard.odata/
        username: Интеграция
        password: ${ONEC_PASSWORD}
        timezone: Europe/Moscow      # naive 1C dates are read in this zone
        change_detection: exchange_plan   # or version_scan (default), full
        exchange_plan: {name: CRMBridge, node: CRMB}
    ```"""

    kind: Literal["onec_odata"]
    url: Annotated[HttpUrl, AfterValidator(_no_login)]
    username: str = Field(min_length=1)
    password: SecretStr
    timeout: Timeouts = Timeouts()
    page_size: int = Field(default=1000, ge=1, le=10000)
    mappings: str | None = None  # folder with <model>.yaml; default: the shipped 1C:CRM mappings
    models: list[str] = ["customer", "contact", "agent", "ticket"]
    # version_scan: list (Ref_Key, DataVersion, DeletionMark) only and read changed records
    # in full — 1C has no modified-at field; full: read every record on every pass;
    # exchange_plan: one version scan to start, then only the changes 1C registered for
    # our node of an exchange plan (``exchange_plan``; INTERFACE.md §7a).
    change_detection: Literal["version_scan", "full", "exchange_plan"] = "version_scan"
    exchange_plan: ExchangePlanConfig | None = None
    scan_page_size: int = Field(default=5000, ge=1, le=50000)
    # Models whose records crm-bridge creates in 1C (create_remote) are posted right after,
    # as a 1C user would (PostingModeOperational=false): documents only, e.g. [ticket].
    post_created: list[str] = []
    # Longest query string the web server in front of 1C accepts: key lookups are cut to
    # fit. IIS's default is 2,048 (it answers 404.15 above); behind Apache 8,000 is safe.
    max_query_string: int = Field(default=2048, ge=512, le=65536)
    # The largest answer read (a page, a record, $metadata); bodies are streamed and cut
    # off here, so a runaway answer costs at most this much memory. A page over it: lower
    # page_size, or raise this.
    max_answer_mb: int = Field(default=64, ge=1, le=2048)

    @model_validator(mode="after")
    def _posted(self) -> OneCODataConfig:
        extra = [m for m in self.post_created if m not in self.create_remote]
        if extra:
            msg = (f"post_created names {', '.join(extra)}, which crm-bridge does not create in 1C; add "
                   f"{'it' if len(extra) == 1 else 'them'} to create_remote or remove from post_created")
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _feed(self) -> OneCODataConfig:
        if self.exchange_plan is not None and self.change_detection != "exchange_plan":
            msg = (f"exchange_plan is set but change_detection is {self.change_detection!r}; "
                   "set change_detection: exchange_plan to read the plan's changes, or remove exchange_plan")
            raise ValueError(msg)
        return self

    @property
    def feed(self) -> ExchangePlanConfig:
        """The exchange plan settings (the defaults when ``exchange_plan`` is not given)."""
        return self.exchange_plan or ExchangePlanConfig()


#: remote field -> (setter operation, its parameter), as in the fixture WSDL
DEFAULT_WRITERS: Mapping[str, tuple[str, str]] = {
    "СрокИсполнения": ("SetRequestDueDate", "DueDate"),
    "Состояние": ("SetRequestState", "StateCode"),
}


class SoapServiceNames(Strict):
    """Names in the "changes since" web service; the defaults are the fixture WSDL's.

    The operation takes ``(Cursor, ChangedSince, MaxCount)`` and answers a list of
    `items`, each with its change time `stamp`, plus `more` and the next `cursor`.
    """

    operation: str = Field(default="GetChangedRequests", min_length=1)
    items: str = Field(default="Обращение", min_length=1)
    stamp: str = Field(default="ДатаИзменения", min_length=1)
    more: str = Field(default="ЕстьЕще", min_length=1)
    cursor: str = Field(default="Курсор", min_length=1)


class OneCSoapConfig(BackendBase):
    """```yaml
    backends:
      crm-ws:
        kind: onec_soap
        wsdl: http://1c.example/crm/ws/CrmExchange.1cws?wsdl
        username: Интеграция
        password: ${ONEC_PASSWORD}
        timezone: Europe/Moscow      # the service's dates carry no offset
        service: {operation: GetChangedRequests, items: Обращение, stamp: ДатаИзменения,
                  more: ЕстьЕще, cursor: Курсор}
        writers: {СрокИсполнения: [SetRequestDueDate, DueDate]}
    ```"""

    kind: Literal["onec_soap"]
    wsdl: Annotated[HttpUrl, AfterValidator(_no_login)]
    username: str = Field(min_length=1)
    password: SecretStr
    timeout: Timeouts = Timeouts()
    mappings: str | None = None  # folder with <model>.yaml; default: the shipped fixture-service mapping
    models: list[str] = Field(default=["ticket"], min_length=1)
    service: SoapServiceNames = SoapServiceNames()
    page_size: int = Field(default=500, ge=1, le=1000)
    # Windows start `overlap` seconds before the last one ended (a 1C transaction committing
    # late keeps its earlier change time) and stay `lag` seconds behind now.
    window_overlap: float = Field(default=300.0, ge=0, le=86400)
    window_lag: float = Field(default=30.0, ge=0, le=3600)
    # remote field -> [setter operation, its parameter]: how a field owned "local" is written
    writers: dict[str, tuple[str, str]] = dict(DEFAULT_WRITERS)
    # The largest answer read (a page of changes, the WSDL); streamed and cut off here, as
    # for OData. A page over it: lower page_size, or raise this.
    max_answer_mb: int = Field(default=64, ge=1, le=2048)

    @field_validator("writers")
    @classmethod
    def _writers(cls, value: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        for name, (operation, parameter) in value.items():
            if not name or not operation or not parameter:
                msg = (f"writer {name!r}: write it as <remote field>: [<operation>, <parameter>], "
                       "e.g. СрокИсполнения: [SetRequestDueDate, DueDate]")
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _no_creates(self) -> OneCSoapConfig:
        if self.create_remote:
            msg = (f"create_remote: {', '.join(self.create_remote)}: a SOAP change service only reads changes and "
                   "writes fields through its setters; it cannot create records — remove create_remote")
            raise ValueError(msg)
        return self
