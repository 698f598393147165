"""The canonical domain model: the only contract between addons.

Adapters turn remote records into these (through mapping); engines read and decide on
them; nobody downstream knows which CRM is on the other side. Every instant is
timezone-aware (UTC in the store); a naive datetime is refused at validation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

__all__ = [
    "MODELS",
    "Agent",
    "AwareDatetime",
    "Channel",
    "Contact",
    "Customer",
    "Note",
    "Priority",
    "Source",
    "Team",
    "Ticket",
    "TicketStatus",
    "TicketType",
    "fields_from_json",
    "fields_of",
    "fields_to_json",
    "fields_to_json_many",
    "remote_from_json",
    "remote_to_json",
]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"naive datetime {value.isoformat()}: give a time zone (naive remote dates are converted with the backend's timezone)"
        raise ValueError(msg)
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class TicketType(StrEnum):
    """What the request is about; the seed SLA policy keys on it."""

    TECHNICAL_PROBLEM = "technical_problem"
    CONSULTATION = "consultation"
    FEEDBACK = "feedback"  # thanks and complaints
    URGENT = "urgent"
    OTHER = "other"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    SOCIAL = "social"
    WEB_FORM = "web_form"
    API = "api"
    OTHER = "other"


class Source(StrEnum):
    EXTERNAL = "external"
    INTERNAL = "internal"


class TicketStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self not in (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.CANCELLED)


class _Canonical(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Customer(_Canonical):
    """Whom the company serves (1C: Партнер/Контрагент)."""

    name: str = Field(min_length=1)
    full_name: str | None = None
    tax_id: str | None = None  # ИНН
    tax_reason_code: str | None = None  # КПП
    email: str | None = None
    phone: str | None = None
    segment: str | None = None
    deleted: bool = False


class Contact(_Canonical):
    """A person at a customer."""

    name: str = Field(min_length=1)
    customer_id: int | None = None
    position: str | None = None
    email: str | None = None
    phone: str | None = None
    deleted: bool = False
    # Optional, for an integrator to map from CRM fields (notify seeds the contact's
    # preferences from them, unless the contact changed them on the CLI or page since):
    preferred_channel: str | None = None  # email | sms | telegram
    language: str | None = None  # ru | en
    timezone: str | None = None  # IANA, e.g. Europe/London
    telegram_chat_id: str | None = None
    notify_frequency: str | None = None  # immediately | hourly | daily
    mailing_opt_out: bool | None = None  # true: the CRM says "no mail"; an import never lifts an opt-out


class Team(_Canonical):
    name: str = Field(min_length=1)


class Agent(_Canonical):
    """A support specialist (1C: Пользователь)."""

    name: str = Field(min_length=1)
    email: str | None = None
    active: bool = True
    team_id: int | None = None


class Ticket(_Canonical):
    """A customer request (обращение; 1C:CRM: Интерес)."""

    number: str = Field(min_length=1)
    subject: str = ""
    description: str = ""
    type: TicketType = TicketType.OTHER
    priority: Priority = Priority.NORMAL
    channel: Channel = Channel.OTHER
    source: Source = Source.EXTERNAL
    status: TicketStatus = TicketStatus.NEW
    customer_id: int | None = None
    contact_id: int | None = None
    assignee_id: int | None = None
    # Co-executors (1C: the Соисполнители tabular section): agent ids besides the assignee,
    # in the CRM's row order. A list, not a set: a PATCH replaces the whole section with it.
    co_executors: list[int] = Field(default_factory=list)
    team_id: int | None = None
    contract: str | None = None  # the service contract the request falls under (SLA policies match on it)
    tags: list[str] = Field(default_factory=list)
    created_at: AwareDatetime
    first_response_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    first_response_due: AwareDatetime | None = None
    resolution_due: AwareDatetime | None = None
    sla_policy: str | None = None
    sla_state: str | None = None
    sla_breached: bool = False
    # The customer's rating (csat addon): 1-5 (three faces are 1, 3, 5) and their words;
    # written back through the outbox to the CRM fields an integrator maps them to.
    csat_score: int | None = Field(default=None, ge=1, le=5)
    csat_comment: str | None = None
    deleted: bool = False


class Note(_Canonical):
    """A note in a request's history (1C: a note or interaction whose ``Предмет`` is the
    request): what the customer or staff were told, by notify's ``crm_note`` channel, or a
    note written in the CRM. Created here, it reaches the CRM through the sync outbox
    (``create_remote: [note]``)."""

    ticket_id: int
    channel: str = Field(default="note", min_length=1)  # how what it records went: email, sms, telegram, note
    text: str = Field(min_length=1)
    created: AwareDatetime
    author: str | None = None  # who wrote it: a person's name, or "crm-bridge"
    about: str = "ticket"  # the kind of record it is about (1C: the type of its composite Предмет)
    deleted: bool = False


class Mail(_Canonical):
    """A letter about a request written in the CRM (1C: an outgoing e-mail document,
    ``Document_ЭлектронноеПисьмоИсходящее``, whose ``Предмет`` is the request): an agent's
    reply to the customer. Imported; intake records each as a ``message`` event (author
    ``agent``) in the request's history, which the SLA next-response clock reads."""

    ticket_id: int
    direction: str = "outgoing"  # outgoing: staff wrote to the customer
    subject: str = ""
    text: str = ""
    sent: AwareDatetime
    author_id: int | None = None  # the agent who wrote it
    about: str = "ticket"  # the kind of record it is about (1C: the type of its composite Предмет)
    deleted: bool = False


class Attachment(_Canonical):
    """A file attached to a request (1C: an item of ``Catalog_ИнтересПрисоединенныеФайлы``
    whose ``ВладелецФайла`` is the request): a file the customer sent with a message, created
    in the CRM through the sync outbox (``create_remote: [attachment]``)."""

    ticket_id: int
    filename: str = Field(min_length=1)  # the name with its extension
    name: str = ""  # without the extension (1C: Description)
    extension: str = ""  # without the dot (1C: Расширение)
    content_type: str = "application/octet-stream"
    size: int = Field(default=0, ge=0)  # bytes
    content: str = ""  # the bytes in base64, as OData carries binary data
    created: AwareDatetime
    deleted: bool = False


MODELS: dict[str, type[_Canonical]] = {
    "customer": Customer,
    "contact": Contact,
    "agent": Agent,
    "team": Team,
    "ticket": Ticket,
    "note": Note,
    "mail": Mail,
    "attachment": Attachment,
}


@functools.cache
def fields_of(model: str) -> Mapping[str, FieldInfo]:
    """A model's fields by name: pydantic's ``model_fields`` is a property built anew on
    each access, too slow for a test per record of an import."""
    return MappingProxyType(dict(MODELS[model].model_fields))


@functools.cache
def _adapter(model: str, name: str) -> TypeAdapter[Any]:
    annotation: Any = fields_of(model)[name].annotation
    return TypeAdapter(annotation)


@functools.cache
def _fields_shape(model: str) -> Any:
    fields = {name: info.annotation for name, info in fields_of(model).items()}
    shape = TypedDict(f"{MODELS[model].__name__}Fields", fields, total=False)  # type: ignore[misc]
    return shape


@functools.cache
def _fields_adapter(model: str) -> TypeAdapter[Any]:
    """Any subset of a model's fields as one shape: one validation call per record, not one per field."""
    return TypeAdapter(_fields_shape(model))


def _checked(model: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    known = fields_of(model)
    unknown = [k for k in fields if k not in known]
    if unknown:
        msg = f"{model} has no field {', '.join(unknown)}"
        raise KeyError(msg)
    return dict(fields)


def fields_to_json(model: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical field values → JSON-safe values (for the outbox and the event ledger)."""
    # The adapter's validator and serializer themselves: ``validate_python`` and
    # ``dump_python`` only pass their defaults on, at a cost an import pays per record.
    adapter = _fields_adapter(model)
    dumped = adapter.serializer.to_python(adapter.validator.validate_python(_checked(model, fields)), mode="json")
    return {k: dumped[k] for k in fields}


@functools.cache
def _many_adapter(model: str) -> TypeAdapter[Any]:
    many: Any = list[_fields_shape(model)]  # type: ignore[misc]
    return TypeAdapter(many)


def fields_to_json_many(model: str, many: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``fields_to_json`` of each of `many` (field subsets of one model) in one validation:
    a chunk of planned requests costs one pydantic call, not one a request (half the time)."""
    if not many:
        return []
    adapter = _many_adapter(model)
    dumped = adapter.dump_python(adapter.validate_python([_checked(model, fields) for fields in many]), mode="json")
    return [{k: out[k] for k in fields} for fields, out in zip(many, dumped, strict=True)]


def fields_from_json(model: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``fields_to_json``: ISO strings back to aware datetimes, and so on."""
    loaded = _fields_adapter(model).validator.validate_python(_checked(model, fields))
    return {k: loaded[k] for k in fields}


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _leniently(convert: Callable[[str, Mapping[str, Any]], dict[str, Any]], model: str, fields: Mapping[str, Any],
               fallback: Callable[[Any], Any]) -> dict[str, Any]:
    try:
        return convert(model, fields)
    except ValidationError:  # one field at a time: the refused ones as they are
        out: dict[str, Any] = {}
        for name, value in fields.items():
            try:
                out[name] = convert(model, {name: value})[name]
            except ValidationError:
                out[name] = fallback(value)
        return out


def remote_to_json(model: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields_to_json`` for what a CRM holds (a merge base, a conflict's sides): a value
    the model refuses — an empty required field, a code no map covers — is kept as it is
    rather than refused, so the record can still be compared and reported."""
    return _leniently(fields_to_json, model, fields, _plain)


def remote_from_json(model: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``remote_to_json``."""
    return _leniently(fields_from_json, model, fields, lambda value: value)
