"""The ``notify:`` configuration section: the mail channel, who hears of what, templates.

::

    notify:
      email:                                   # no email: notify is off (nothing is queued)
        host: smtp.example.ru
        port: 587
        tls: starttls                          # none | starttls | tls
        username: support@example.ru
        password: ${SMTP_PASSWORD}
        from: "Служба поддержки <support@example.ru>"
        reply_to: support@example.ru           # where the intake addon reads replies
      customer:
        acknowledgement: true                  # "received, number N, due by D"
        acknowledge_within: 24h                # only requests opened this recently (a first import
                                               # of a CRM with last year's requests sends nothing)
        statuses: [in_progress, waiting_customer]   # status changes told (besides resolved, closed)
        resolved: true
        closed: true
        language: ru                           # the canonical model has no language of its own:
        timezone: Europe/Moscow                # these, per segment below, else the defaults
        channels: [email]                      # per-contact preferences' defaults (notify/prefs.py):
        frequency: immediately                 # immediately | hourly | daily (a digest at digest_at,
        digest_at: "09:00"                     #   in the contact's zone)
        events: [acknowledgement, assigned, status_changed, resolved, closed]
        segments:                              # a segment's defaults beat these; a contact's own beat both
          international: {language: en, timezone: Europe/London}
          wholesale: {frequency: daily, digest_at: "08:30", channels: [email, telegram]}
      staff:                                   # SLA alerts: assignee, supervisor or an address
        warn: [assignee]
        breach: [assignee, supervisor]
        escalate: [assignee, supervisor]
        supervisor: "Старший смены <lead@example.ru>"
      templates: notify-templates              # your folder, searched before the shipped one
      unsubscribe_url: "https://support.example.ru/unsubscribe/{token}"
      link_secret: ${NOTIFY_LINK_SECRET}       # signs the unsubscribe token
      quiet_hours: {from: "22:00", to: "08:00"}   # customers' mail waits; default: off
      departments:                             # requests tagged so are forwarded (feedback by tag)
        packaging: {to: ["Упаковка <pack@example.ru>"], tags: [упаковка, packaging], frequency: daily, digest_at: "09:00"}
      request_url: "https://crm.example.ru/requests/{number}"
      rate_limits:                             # token buckets; the excess goes in the next digest
        recipient: {rate: 10, per: 1h, burst: 3}
        channel: {email: {rate: 600, per: 1m}}
      sms:                                     # SMS.ru's HTTP API (notify.channels.sms)
        kind: smsru
        api_id: ${SMSRU_API_ID}
        sender: MyCompany                      # a sender name SMS.ru approved; default: theirs
        max_segments: 3                        # longer texts are cut (see notify/README.md)
      telegram:                                # the Bot API (notify.channels.telegram)
        token: ${TELEGRAM_BOT_TOKEN}
      webhooks:                                # signed JSON POSTs (notify.channels.webhook)
        - url: https://hooks.example.ru/crm
          secret: ${WEBHOOK_SECRET}
          events: [sla_breach, sla_escalate]   # default: every event

Staff recipients may name another channel: ``telegram:-1001234567890`` (a chat id or
``@channel``), ``sms:+79991234567``; the channel needs its section.

A name this section does not know (a status, a recipient, a language without templates)
is an error at its line.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from email.headerregistry import Address
from email.utils import getaddresses
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from crm_bridge.config import Strict, TimeZoneName, config_problem, user_folder
from crm_bridge.errors import did_you_mean
from crm_bridge.model import TicketStatus
from notify.events import EVENTS
from sla.policy import Duration

__all__ = ["LANGUAGES", "CrmNote", "CustomerEvent", "CustomerRules", "Department", "EmailChannel", "Frequency", "NotifyConfig",
           "PrefChannel", "QuietHours", "RateLimit", "RateLimits", "Segment", "SmsRu", "StaffRules", "TelegramChannel",
           "Webhook", "channel_address", "mailbox", "wall_time"]

LANGUAGES = ("ru", "en")
Language = Literal["ru", "en"]
Recipient = str  # "assignee", "team_lead", "supervisor", an e-mail address, "telegram:<chat>" or "sms:<phone>"
_PHONE = re.compile(r"\+?[0-9]{10,15}")
_CHAT = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")


def mailbox(value: str) -> str:
    """`value` if it is one mailbox (``a@b.ru`` or ``Name <a@b.ru>``); ValueError otherwise."""
    found = getaddresses([value])
    if len(found) != 1 or "@" not in found[0][1] or " " in found[0][1]:
        msg = f"{value!r} is not one e-mail address; write e.g. support@example.ru or \"Support <support@example.ru>\""
        raise ValueError(msg)
    return value


def channel_address(who: str) -> tuple[str, str]:
    """(channel, address) a recipient written in the configuration stands for:
    ``telegram:-100123`` → ("telegram", "-100123"), ``sms:+7 999 123-45-67`` →
    ("sms", "79991234567"), anything else an e-mail mailbox. ValueError when malformed."""
    kind, sep, rest = who.partition(":")
    if sep and kind == "telegram":
        if not _CHAT.fullmatch(rest.strip()):
            msg = f"{who!r}: write telegram:<chat id> (e.g. telegram:-1001234567890) or telegram:@channel_name"
            raise ValueError(msg)
        return "telegram", rest.strip()
    if sep and kind == "sms":
        digits = re.sub(r"[\s()-]", "", rest)
        if not _PHONE.fullmatch(digits):
            msg = f"{who!r}: write sms:<phone in international format> (e.g. sms:+79991234567)"
            raise ValueError(msg)
        return "sms", digits.removeprefix("+")
    return "email", mailbox(who)


def _http_url(value: str, field: str) -> str:
    if not value.startswith(("https://", "http://")):
        msg = f"{field} {value!r} is not an http(s) URL; write e.g. https://example.ru"
        raise ValueError(msg)
    return value.rstrip("/")


class SmsRu(Strict):
    """SMS.ru (https://sms.ru/api/send): ``api_id`` from the cabinet; other gateways plug
    in as another ``kind`` beside it (``notify.channels.sms``)."""

    kind: Literal["smsru"]
    api_id: SecretStr
    sender: str | None = Field(default=None, min_length=1, max_length=11)  # "from": a name SMS.ru approved
    base_url: str = "https://sms.ru"
    max_segments: int = Field(default=3, ge=1, le=8)  # SMS.ru refuses over 8 (code 205)
    timeout: float = Field(default=15.0, gt=0)
    test: bool = False  # SMS.ru's test=1: answered as sent, nothing sent, nothing charged
    # sent, but no answer (a read timeout): SMS.ru may have sent and charged it. park: a
    # person checks the cabinet and retries the row or not; retry: send again (maybe twice)
    unanswered: Literal["park", "retry"] = "park"

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "base_url")


class TelegramChannel(Strict):
    """The Telegram Bot API: the bot's token (a secret: never logged, hidden in messages)."""

    token: SecretStr
    base_url: str = "https://api.telegram.org"
    timeout: float = Field(default=15.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "base_url")


class Webhook(Strict):
    """A receiver of signed JSON POSTs: every notification of `events` (default: all)."""

    url: str
    secret: SecretStr = Field(min_length=16)
    events: list[str] = list(EVENTS)
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "url")

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if name not in EVENTS:
                raise config_problem((index,), f"no event {name!r}.{did_you_mean(name, EVENTS)} Events: {', '.join(EVENTS)}")
        return value


class CrmNote(Strict):
    """The ``crm_note`` channel: each notification of `events` (default: all) also becomes a
    note in the request's history in the CRM (``notify.channels.crm_note``), once per cause."""

    events: list[str] = list(EVENTS)
    author: str = Field(default="crm-bridge", min_length=1, max_length=150)  # 1C: the note's Description

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return Webhook._known(value)  # the same names, the same message


class EmailChannel(Strict):
    """SMTP: the server, how to secure and log in, and what the mails say they are from."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    reply_to: str | None = None
    timeout: float = Field(default=30.0, gt=0)  # seconds per SMTP command
    domain: str | None = None  # right part of the Message-IDs; default: the from address's domain

    @field_validator("from_", "reply_to")
    @classmethod
    def _one_address(cls, value: str | None) -> str | None:
        return mailbox(value) if value is not None else None

    @model_validator(mode="after")
    def _login(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            msg = "give both username and password (SMTP AUTH), or neither"
            raise ValueError(msg)
        return self

    @property
    def message_domain(self) -> str:
        return self.domain or getaddresses([self.from_])[0][1].rpartition("@")[2]

    @property
    def sender(self) -> Address:
        name, addr = getaddresses([self.from_])[0]
        return Address(display_name=name, addr_spec=addr)


PrefChannel = Literal["email", "sms", "telegram"]
Frequency = Literal["immediately", "hourly", "daily"]
CustomerEvent = Literal["acknowledgement", "assigned", "status_changed", "resolved", "closed", "csat_survey",
                        "waiting_reminder"]


def wall_time(text: str) -> time:
    """``"9:00"`` / ``"09:00"`` as a wall-clock time; ValueError naming the shape."""
    found = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if found is None or int(found[1]) > 23 or int(found[2]) > 59:  # noqa: PLR2004 - a clock's hours and minutes
        msg = f"{text!r} is not a time of day; write HH:MM, e.g. 09:00"
        raise ValueError(msg)
    return time(int(found[1]), int(found[2]))


class QuietHours(Strict):
    """Customers' mail created in these hours (their own time zone) waits for the end."""

    from_: time = Field(alias="from")
    to: time

    def contains(self, moment: time) -> bool:
        if self.from_ <= self.to:
            return self.from_ <= moment < self.to
        return moment >= self.from_ or moment < self.to  # over midnight

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``"22:00-08:00"`` as quiet hours; ValueError naming the expected shape."""
        start, sep, end = text.partition("-")
        try:
            if not sep:
                raise ValueError(text)  # noqa: TRY301 - one message for every malformed shape
            return cls.model_validate({"from": wall_time(start), "to": wall_time(end)})
        except ValueError:
            msg = f"{text!r} is not quiet hours; write HH:MM-HH:MM, e.g. 22:00-08:00 (may span midnight)"
            raise ValueError(msg) from None

    def __str__(self) -> str:
        return f"{self.from_:%H:%M}-{self.to:%H:%M}"


class Segment(Strict):
    """A customer segment's defaults; each unset one falls back to ``customer:``'s."""

    language: Language | None = None
    timezone: TimeZoneName | None = None
    channels: list[PrefChannel] | None = None
    events: list[CustomerEvent] | None = None
    frequency: Frequency | None = None
    digest_at: time | None = None
    quiet_hours: QuietHours | None = None


class CustomerRules(Strict):
    acknowledgement: bool = True
    acknowledge_within: Duration = timedelta(hours=24)
    statuses: list[TicketStatus] = [TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER]
    assignment: bool = True  # "a specialist took your request" (not when the acknowledgement already named them)
    resolved: bool = True
    closed: bool = True
    language: Language = "ru"
    timezone: TimeZoneName | None = None  # None: the configuration's time zone
    segments: dict[str, Segment] = {}
    # per-contact preferences' defaults (notify/prefs.py); a segment's, then a contact's own, beat them
    channels: list[PrefChannel] = ["email"]
    events: list[CustomerEvent] = ["acknowledgement", "assigned", "status_changed", "resolved", "closed", "csat_survey",
                                   "waiting_reminder"]
    frequency: Frequency = "immediately"
    digest_at: time = time(9, 0)
    # a request waiting for its customer this long (business time on its SLA calendar) reminds them; None: never
    remind_waiting_after: Duration | None = None

    @field_validator("statuses")
    @classmethod
    def _not_final(cls, value: list[TicketStatus]) -> list[TicketStatus]:
        final = [s.value for s in value if s in (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.CANCELLED)]
        if final:
            msg = f"{', '.join(final)}: told by `resolved: true` / `closed: true` (their own templates); list open statuses here"
            raise ValueError(msg)
        return value


class StaffRules(Strict):
    """Who hears of each SLA event. The defaults name the supervisor, who is told only
    once ``supervisor`` gives an address; a list you write that names them needs it."""

    warn: list[Recipient] = ["assignee"]
    breach: list[Recipient] = ["assignee", "supervisor"]
    escalate: list[Recipient] = ["assignee", "supervisor"]
    csat_low: list[Recipient] = ["supervisor"]  # a low rating (csat addon): who follows it up
    assigned: list[Recipient] = ["assignee"]  # who hears that routing assigned a request
    supervisor: str | None = None
    language: Language = "ru"
    timezone: TimeZoneName | None = None
    # without routing's teams: the team lead by the agent's name or address, "*" for anyone (notify.staff)
    team_leads: dict[str, str] = {}

    @field_validator("supervisor")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return mailbox(value) if value is not None else None

    @field_validator("team_leads")
    @classmethod
    def _leads(cls, value: dict[str, str]) -> dict[str, str]:
        return {(k if "@" not in k else k.lower()): mailbox(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _recipients(self) -> StaffRules:
        for kind in ("warn", "breach", "escalate", "assigned"):
            for index, who in enumerate(getattr(self, kind)):
                if who in ("assignee", "supervisor", "team_lead"):
                    if who == "supervisor" and self.supervisor is None and kind in self.model_fields_set:
                        raise config_problem((kind, index), "names the supervisor, but `supervisor:` gives no address; add "
                                                            "`supervisor: lead@example.ru`")
                    continue
                try:
                    channel_address(who)
                except ValueError as exc:
                    hint = str(exc) if who.startswith(("telegram:", "sms:")) else \
                        f"{who!r}: write assignee, team_lead, supervisor, an e-mail address, telegram:<chat id> or sms:<phone>"
                    raise config_problem((kind, index), hint) from None
        return self


class Department(Strict):
    """Where requests with some tags go (feedback to other departments): the addresses, and
    whether each request is told at once or in an hourly/daily digest."""

    to: list[str] = Field(min_length=1)
    tags: list[str] = Field(min_length=1)  # as the CRM writes them; compared case-insensitively
    frequency: Frequency = "immediately"
    digest_at: time = time(9, 0)
    language: Language = "ru"

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [mailbox(v) for v in value]


class RateLimit(Strict):
    """A token bucket: `rate` mails per `per`, up to `burst` at once (default: `rate`)."""

    rate: int = Field(ge=1, le=1_000_000)
    per: Duration = timedelta(hours=1)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)

    @property
    def capacity(self) -> int:
        return self.burst or self.rate


class RateLimits(Strict):
    """No storms: mails per recipient and per channel. Beyond a limit the due rows are not
    dropped: they go in one digest while a token is left, else wait for the next one and then
    go as one digest (``notify.ratelimit``)."""

    recipient: RateLimit | None = None
    channel: dict[PrefChannel, RateLimit] = {}


class NotifyConfig(Strict):
    """See the module docstring. Without a channel (email, sms, telegram, webhooks) notify is off."""

    email: EmailChannel | None = None
    sms: SmsRu | None = None
    telegram: TelegramChannel | None = None
    webhooks: list[Webhook] = []
    customer: CustomerRules = CustomerRules()
    staff: StaffRules = StaffRules()
    templates: Path | None = None
    unsubscribe_url: str | None = None
    link_secret: SecretStr | None = None
    quiet_hours: QuietHours | None = None
    max_attempts: int = Field(default=8, ge=1, le=50)
    wait_for_plan: Duration = timedelta(minutes=5)  # an acknowledgement waits this long for its due dates
    fold_at: int | None = Field(default=5, ge=2, le=10_000)  # this many due mails to one recipient go as a digest; null: never
    # Customer mail held while its backend was in shadow mode (write_back: shadow) is sent
    # after the switch to live only while younger than this; older, it is withdrawn.
    shadow_max_age: Duration = timedelta(hours=1)
    rate_limits: RateLimits = RateLimits()  # default: none
    departments: dict[str, Department] = {}  # feedback by tag: product, packaging, delivery, marketing
    request_url: str | None = None  # a link to the request in the CRM, with {number}; departments' mail carries it
    crm_note: CrmNote | None = None  # notes in the request's history in the CRM, through the sync outbox

    @property
    def enabled(self) -> bool:
        # any(configured(channel)) without a dict per channel: asked for every imported request
        return (self.email is not None or self.sms is not None or self.telegram is not None or bool(self.webhooks)
                or self.crm_note is not None)

    @property
    def message_domain(self) -> str:
        """Right part of the ids rows draw (a mail's Message-ID, a webhook's delivery id)."""
        return self.email.message_domain if self.email is not None else "crm-bridge.notify"

    def configured(self, channel: str) -> bool:
        return {"email": self.email is not None, "sms": self.sms is not None, "telegram": self.telegram is not None,
                "webhook": bool(self.webhooks), "crm_note": self.crm_note is not None}.get(channel, False)

    @field_validator("templates")
    @classmethod
    def _folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return user_folder(value, info, "notify/templates")

    @model_validator(mode="after")
    def _channels(self) -> NotifyConfig:
        for kind in ("warn", "breach", "escalate", "assigned"):
            for index, who in enumerate(getattr(self.staff, kind)):
                if who in ("assignee", "supervisor", "team_lead"):
                    continue
                channel = channel_address(who)[0]
                if not self.configured(channel):
                    raise config_problem(("staff", kind, index), f"{who!r} goes by {channel}, but notify has no `{channel}:` "
                                                                 f"section; add it (see notify/README.md) or remove the recipient")
        return self

    @model_validator(mode="after")
    def _mail_needs_email(self) -> NotifyConfig:
        """A mail recipient written without an ``email:`` section is an error (its mail
        would go nowhere). The defaults you did not write (assignee, supervisor, the
        customer's mail) are not: without ``email:`` they queue no mail rows."""
        if self.email is not None:
            return self
        fix = "goes by e-mail, but notify has no `email:` section; add it (see notify/README.md) or remove the recipient"
        staff = self.staff
        for kind in ("warn", "breach", "escalate", "assigned"):
            if kind in staff.model_fields_set:
                for index, who in enumerate(getattr(staff, kind)):
                    if who in ("assignee", "supervisor") or channel_address(who)[0] == "email":
                        raise config_problem(("staff", kind, index), f"{who!r} {fix}")
        if "supervisor" in staff.model_fields_set and staff.supervisor is not None:
            raise config_problem(("staff", "supervisor"), f"the supervisor {fix}")
        for name in ("acknowledgement", "assignment", "resolved", "closed", "statuses"):
            if name in self.customer.model_fields_set and getattr(self.customer, name):
                raise config_problem(("customer", name), f"customer mail ({name}) {fix}")
        return self

    @model_validator(mode="after")
    def _one_webhook_per_url(self) -> NotifyConfig:
        from crm_bridge.http import shown  # requests: not for `--help`

        seen: dict[str, int] = {}
        for index, hook in enumerate(self.webhooks):
            if hook.url in seen:
                raise config_problem(("webhooks", index, "url"), f"{shown(hook.url)} is listed twice (also webhooks.{seen[hook.url]}); "
                                                                 f"keep one entry and list every event it takes in its `events:`")
            seen[hook.url] = index
        return self

    @model_validator(mode="after")
    def _links(self) -> NotifyConfig:
        if self.unsubscribe_url is not None:
            if "{token}" not in self.unsubscribe_url:
                raise config_problem(("unsubscribe_url",), "must hold {token} (the signed address), e.g. "
                                                           "https://support.example.ru/unsubscribe/{token}")
            if not self.unsubscribe_url.startswith("https://") and not self.unsubscribe_url.startswith("http://"):
                raise config_problem(("unsubscribe_url",), "must be an http(s) URL (RFC 8058 one-click)")
            if self.link_secret is None:
                raise config_problem(("unsubscribe_url",), "needs `link_secret: ${NOTIFY_LINK_SECRET}` to sign its token")
        return self
