"""The connector file: how one REST CRM is read and written, declared, not programmed.

A connector names the CRM's base URL, how to log in, how fast it may be called, which
answers are errors, and per resource (a collection such as ``/leads``) how to list it
(the envelope its records sit in, the paginator, the modified-at cursor), read one record,
and create, update or delete one. Mapping files name a resource as their ``entity``.

Example (a CRM nobody here has seen; ``adapters/generic_rest/README.md`` walks through it)::

    name: helpline
    base_url: https://helpline.example/api/v2
    auth: {kind: api_key, name: X-Api-Key, value: "${HELPLINE_KEY}"}
    rate_limit: {per_second: 5}
    errors:
      - {status: 403, action: fail, say: "the API key is missing or wrong"}
    resources:
      tickets:
        path: /tickets
        records: payload.items
        paginator: {kind: offset, limit: 100, total: payload.count}
        update: {method: PUT, path: "/tickets/{id}", replace: true}

A mistake is reported with file:line:column, the field and a did-you-mean, like the main
configuration; ``${VAR}`` takes secrets from the environment, and secrets are ``SecretStr``
(never printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator

from adapters.generic_rest.select import parse_path
from crm_bridge.config import ConfigErrors, Strict, TimeZoneName, config_problem, validate_document
from crm_bridge.errors import ConfigError, did_you_mean
from crm_bridge.yamlfile import load_yaml

__all__ = [
    "Auth",
    "Batch",
    "Connector",
    "ErrorRule",
    "FieldList",
    "ModifiedCursor",
    "Paginator",
    "RateLimit",
    "Resource",
    "Webhooks",
    "WriteOp",
    "load_connector",
]


def _selector(value: str) -> str:
    parse_path(value)  # ValueError: the file:line message says why
    return value


Selector = Annotated[str, AfterValidator(_selector)]
Seconds = Annotated[float, Field(ge=0, le=86400)]


# ------------------------------------------------------------------ auth
class BearerAuth(Strict):
    """``Authorization: Bearer <token>`` (a long-lived API token)."""

    kind: Literal["bearer"]
    token: SecretStr


class BasicAuth(Strict):
    kind: Literal["basic"]
    username: str
    password: SecretStr


class ApiKeyAuth(Strict):
    """A key in a header (``X-Api-Key: …``) or in the query string (``?api_key=…``)."""

    kind: Literal["api_key"]
    name: str = Field(min_length=1)
    value: SecretStr
    where: Literal["header", "query"] = "header"


class UrlTokenAuth(Strict):
    """A secret inside the URL: Bitrix24's incoming webhook ``https://x.bitrix24.ru/rest/1/<token>/``.
    ``base_url`` holds ``{token}``; logs show the URL with the token masked."""

    kind: Literal["url_token"]
    token: SecretStr


class ClientCredentialsAuth(Strict):
    """OAuth 2.0 client credentials: a token fetched from ``token_url`` and renewed when it expires."""

    kind: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None


class RefreshTokenAuth(Strict):
    """OAuth 2.0 with refresh tokens (amoCRM, Bitrix24 apps: ``token_method: GET``,
    ``token_param: auth``). Many CRMs make a refresh token
    single-use: each new one is stored in the store before it is used, so a crash between
    the exchange and its use never leaves the bridge holding a spent token. ``refresh_token``
    is the first one, from the integration's installation."""

    kind: Literal["oauth2_refresh"]
    token_url: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    redirect_uri: str | None = None  # amoCRM asks for it on every refresh
    token_method: Literal["POST", "GET"] = "POST"  # Bitrix24's oauth.bitrix.info/oauth/token/ takes a GET with the query
    token_param: str | None = None  # the access token as this query parameter (Bitrix24: auth), not a Bearer header


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth | UrlTokenAuth | ClientCredentialsAuth | RefreshTokenAuth,
                 Field(discriminator="kind")]


# ------------------------------------------------------------------ paginators
class NoPaging(Strict):
    kind: Literal["none"] = "none"


class OffsetPaging(Strict):
    """``?offset=200&limit=100``; the last page is a short one, or ``total`` (a selector of
    the count in the body) says so. ``concurrency: 4`` asks up to 4 pages at once (their
    offsets are known in advance), handed over in order; past the last page nothing is
    asked once ``total`` is known."""

    kind: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=100, ge=1, le=10_000)
    total: Selector | None = None
    concurrency: int = Field(default=1, ge=1, le=10)  # pages asked at once, in order (within the rate limit)


class PagePaging(Strict):
    """``?page=3&limit=250`` (amoCRM); pages count from ``first``. An empty page, a short
    one, or the absence of ``next`` (a selector, e.g. ``_links.next``) ends the listing."""

    kind: Literal["page"]
    page_param: str = "page"
    size_param: str | None = "limit"
    size: int = Field(default=50, ge=1, le=10_000)
    first: int = Field(default=1, ge=0)
    next: Selector | None = None
    total: Selector | None = None  # the count of records, where the body gives it: concurrent pages stop there
    concurrency: int = Field(default=1, ge=1, le=10)  # pages asked at once, in order (within the rate limit)


class StartPaging(Strict):
    """Bitrix24: ``?start=50``; the body's ``next`` holds the next start, absent on the last page."""

    kind: Literal["start"]
    param: str = "start"
    next: Selector = "next"
    size: int = Field(default=50, ge=1, le=10_000)  # fixed by the CRM; used to size progress only


class CursorPaging(Strict):
    """An opaque token: ``?cursor=<the body's next_cursor>``; an empty or absent token ends it."""

    kind: Literal["cursor"]
    param: str = "cursor"
    next: Selector
    size_param: str | None = None
    size: int = Field(default=100, ge=1, le=10_000)


class NextLinkPaging(Strict):
    """The next page's whole URL: in the body (``next: _links.next.href``) or in the
    ``Link: <…>; rel="next"`` header (``next: header``)."""

    kind: Literal["next_link"]
    next: Selector = "header"


Paginator = Annotated[NoPaging | OffsetPaging | PagePaging | StartPaging | CursorPaging | NextLinkPaging,
                      Field(discriminator="kind")]


# ------------------------------------------------------------------ resources
class ModifiedCursor(Strict):
    """Incremental reads by a modified-at field: ``?<param>=<last seen - overlap>``.

    ``format``: ``iso`` (``2026-12-07T10:56:00+03:00``), ``unix`` / ``unix_ms`` (epoch
    numbers), or a strftime pattern (``%Y-%m-%d %H:%M:%S``, naive: read in ``timezone``).
    ``overlap`` re-reads a margin (the CRM's clock and its commit order are not ours);
    ``lag`` leaves the last seconds for the next pass (records still being written)."""

    field: str = Field(min_length=1)
    param: str = Field(min_length=1)
    format: str = "iso"
    timezone: TimeZoneName | None = None  # naive values; default: the backend's zone
    overlap: Seconds = 60.0
    lag: Seconds = 5.0


class WriteOp(Strict):
    """One write: the method, the path (``{id}`` is the record's key), where the record's
    fields go in the body (``wrap``: e.g. ``fields`` for Bitrix24's ``{"fields": {...}}``,
    with ``key_in_body: id`` for its ``{"id": 42, "fields": {...}}``;
    ``list: true`` sends ``[{...}]`` as amoCRM wants), and where the answer holds the new
    id (``id``, a selector). ``reread: true``: the answer does not hold the record, read it
    again to verify the write. ``replace: true``: PUT replaces the whole record, so the
    record is read first and sent whole with our fields changed."""

    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "PATCH"
    path: str
    wrap: Selector | None = None
    key_in_body: str | None = None  # Bitrix24: {"id": 42, "fields": {...}} — the record's key beside the fields
    list: bool = False
    id: Selector | None = None
    reread: bool = True
    replace: bool = False
    batch: bool = False  # the write and its read-back in one call of the connector's `batch:` (halted if the write fails)

    @model_validator(mode="after")
    def _replace_is_put(self) -> WriteOp:
        if self.replace and self.method != "PUT":
            msg = f"replace: true describes a PUT that replaces the record; the method is {self.method}"
            raise ValueError(msg)
        return self


class FieldList(Strict):
    """A list of keyed values flattened into plain fields, both ways: amoCRM's
    ``custom_fields_values: [{field_id: 123, values: [{value: x}]}]`` becomes the field
    ``cf_123`` = x for the mappings, and a write of ``cf_123`` goes out as that list."""

    path: Selector
    key: str = "field_id"
    value: Selector = "values.0.value"
    name: str = "cf_{key}"

    @model_validator(mode="after")
    def _named_by_key(self) -> FieldList:
        if self.name.count("{key}") != 1:
            msg = f"name {self.name!r} must hold {{key}} once (e.g. cf_{{key}}): it names each flattened field"
            raise ValueError(msg)
        return self


class Resource(Strict):
    """A collection of the CRM (``/leads``, ``crm.deal.list``) and how to read and write it."""

    path: str = Field(min_length=1)
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str | int | float | bool | list[str | int]] = {}  # a list repeats the key: select[]=*&select[]=UF_*
    records: Selector = ""  # where the list sits in the answer; "" = the body is the list
    key: str = "id"
    version: str | None = None  # a field that changes with every edit (updated_at, DATE_MODIFY)
    paginator: Paginator = NoPaging()
    modified: ModifiedCursor | None = None  # None: no modified-at; changes are found by listing keys and versions
    detail: str | None = None  # one record: "/leads/{id}"; None: filter the list by key
    detail_record: Selector = ""  # where the record sits in the detail answer
    search: str | None = None  # the listing's filter parameter by a field: "filter[{field}]"; bind-first creates use it
    field_lists: list[FieldList] = []
    extract: dict[str, Selector] = {}  # read-only fields from nested places: {company_id: _embedded.companies.0.id}
    create: WriteOp | None = None
    update: WriteOp | None = None
    delete: WriteOp | None = None
    batch_reads: bool = False  # several records read by `detail` in one call of the connector's `batch:`
    schema_: str | None = Field(default=None, alias="schema")  # the record's components.schemas entry in `openapi:`


# ------------------------------------------------------------------ errors, limits
class ErrorRule(Strict):
    """An answer that matches (``status`` one of these, and/or ``body_contains`` text, and/or
    ``json``: selector → value) is handled by ``action``: ``retry`` (after ``wait`` seconds,
    or Retry-After), ``fail`` (the call fails with ``say``), ``ignore`` (an empty answer),
    ``reauth`` (log in again once, then retry)."""

    status: list[int] = []
    body_contains: str | None = None
    json_: dict[Selector, Any] = Field(default={}, alias="json")
    action: Literal["retry", "fail", "ignore", "reauth"]
    wait: Seconds | None = None
    say: str | None = None

    @model_validator(mode="after")
    def _matches_something(self) -> ErrorRule:
        if not self.status and self.body_contains is None and not self.json_:
            msg = "an error rule matches on status, body_contains or json; give at least one"
            raise ValueError(msg)
        return self


class Batch(Strict):
    """Several calls in one request (Bitrix24's ``batch``). Each command is a detail path or
    a write's path with its body as a bracketed query (``crm.deal.update?id=5&fields[TITLE]=x``),
    sent under `commands` by name beside `body`; the answers sit by name at `results`, the
    failed commands' errors at `errors`. `size` commands at most per request.

    Example (Bitrix24)::

        batch: {path: batch, size: 50, commands: cmd, halt: halt, results: result.result,
                errors: result.result_error}
    """

    path: str = Field(min_length=1)
    size: int = Field(default=50, ge=1, le=1000)
    commands: str = "cmd"
    halt: str | None = "halt"  # the body field that stops at the first failed command (a write and its read-back)
    body: dict[str, str | int | bool] = {}
    results: Selector = "result.result"
    errors: Selector = "result.result_error"
    record: Selector = ""  # where the record sits in a detail command's result
    gone: list[str] = ["not found"]  # an error saying this (any case): the record no longer exists


class RateLimit(Strict):
    """A token bucket: ``per_second`` calls on average, bursts up to ``burst``."""

    per_second: float = Field(gt=0, le=10_000)
    burst: int | None = Field(default=None, ge=1, le=10_000)


# ------------------------------------------------------------------ webhooks
class HmacVerify(Strict):
    """A signed ping: ``signature_header`` holds the hex HMAC-SHA256 (``sha256=`` prefix
    optional) of ``<timestamp>.<body>`` under ``secret``; ``timestamp_header`` holds unix
    seconds, at most ``tolerance`` away from now (a replayed ping is refused)."""

    kind: Literal["hmac_sha256"]
    secret: SecretStr
    signature_header: str = "X-Signature"
    timestamp_header: str = "X-Timestamp"
    tolerance: Seconds = 300.0


class TokenVerify(Strict):
    """A shared token the CRM sends with every ping, for CRMs that sign nothing: in the body
    (``field``: Bitrix24's ``auth.application_token``) or in the URL's query (``query``:
    amoCRM, whose webhook URL you write yourself, e.g. ``…/webhooks/amocrm?token=…``);
    ``timestamp`` (a body selector of unix seconds, Bitrix24's ``ts``) bounds replays."""

    kind: Literal["token"]
    secret: SecretStr
    field: Selector | None = None
    query: str | None = None
    timestamp: Selector | None = None
    tolerance: Seconds = 300.0

    @model_validator(mode="after")
    def _one_place(self) -> TokenVerify:
        if (self.field is None) == (self.query is None):
            msg = "say where the token is: field (a selector into the body) or query (a parameter of the URL), one of them"
            raise ValueError(msg)
        return self


class PingRule(Strict):
    """Which records a ping names: when every ``when`` selector holds one of its values,
    ``key`` (a selector; a ``*`` step goes over every entry, amoCRM's ``leads.*.*.id``)
    gives the keys of ``resource`` to read again."""

    when: dict[Selector, str | list[str]] = {}
    resource: str
    key: str = Field(min_length=1)


class Webhooks(Strict):
    """Pings from the CRM (``adapters/generic_rest/webhook.py``): how they are verified and
    which records they name. A ping carries no data we trust: the record is read again."""

    verify: Annotated[HmacVerify | TokenVerify, Field(discriminator="kind")]
    pings: list[PingRule] = Field(min_length=1)


class Connector(Strict):
    name: str = Field(min_length=1)
    base_url: str = Field(min_length=1)
    auth: Auth | None = None
    headers: dict[str, str] = {}
    rate_limit: RateLimit | None = None
    errors: list[ErrorRule] = []
    resources: dict[str, Resource] = Field(min_length=1)
    webhooks: Webhooks | None = None
    batch: Batch | None = None
    openapi: str | None = None  # the CRM's OpenAPI document (a path beside this file, or a URL): field types for `mapping`

    @model_validator(mode="after")
    def _pings_name_resources(self) -> Connector:
        for index, rule in enumerate(self.webhooks.pings if self.webhooks else []):
            if rule.resource not in self.resources:
                msg = (f"no resource {rule.resource!r}.{did_you_mean(rule.resource, list(self.resources))} "
                       f"Resources: {', '.join(self.resources)}")
                raise config_problem(("webhooks", "pings", index, "resource"), msg)
        return self

    @model_validator(mode="after")
    def _batch_declared(self) -> Connector:
        for name, resource in self.resources.items():
            for op in ("create", "delete"):
                if getattr(resource, op) is not None and getattr(resource, op).batch:
                    msg = "batch: true is for update (the write and its read-back in one call); a new record's key is not known before"
                    raise config_problem(("resources", name, op, "batch"), msg)
            ops = {"batch_reads": resource.batch_reads, "update.batch": resource.update is not None and resource.update.batch}
            for what, wanted in ops.items():
                if wanted and self.batch is None:
                    msg = f"{what} is set, but the connector has no batch: section (path:, commands:, results:, errors:)"
                    raise config_problem(("resources", name, *what.split(".")), msg)
                if wanted and resource.detail is None:
                    msg = f"{what} reads records by their detail path in a batch; set detail: for {name}"
                    raise config_problem(("resources", name, *what.split(".")), msg)
        return self

    @model_validator(mode="after")
    def _token_in_url(self) -> Connector:
        url_token = isinstance(self.auth, UrlTokenAuth)
        if url_token and "{token}" not in self.base_url:
            msg = "auth kind url_token puts the token in base_url: write {token} where it goes, e.g. https://x.bitrix24.ru/rest/1/{token}"
            raise ValueError(msg)
        if not url_token and "{token}" in self.base_url:
            msg = "base_url holds {token}, but auth is not kind url_token"
            raise ValueError(msg)
        return self


def load_connector(path: Path, environ: dict[str, str] | None = None) -> Connector:
    """Read and validate a connector file.

    Raises:
        ConfigErrors: every problem, each with file:line:column, the field and a hint.
    """
    if not path.is_file():
        msg = f"{path}: no such connector file; write one (adapters/generic_rest/README.md shows how) or correct the path"
        raise ConfigError(msg)
    doc = load_yaml(path, environ)
    if not isinstance(doc.data, dict):
        raise ConfigErrors(doc.file, [f"{doc.file}:1:1: a connector file is a YAML mapping with name:, base_url: and resources:"])
    return validate_document(doc, Connector)
