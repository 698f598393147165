"""Customer preferences: which channels, events and frequency a contact chose, and when
each notification is due. Pure: no clock, no I/O (``notify.prefs_store`` reads and writes).

Layers, each unset value falling through to the next: the contact's own choice (the
``crm-bridge notify prefs`` CLI, the customer's page, or seeded from mapped CRM fields),
the customer's segment (``customer.segments``), the defaults (``customer:``, the global
``quiet_hours``). ``Effective.sources`` names the layer each value came from.

For (preferences, event, now), ``plan`` returns one ``Delivery`` per chosen channel::

    prefs = effective(config.customer, segment="wholesale", stored=None, quiet=None,
                      default_zone="Europe/Moscow", addresses={"email": "a@b.ru"}, opt_outs={})
    [d] = plan(prefs, "resolved", now)           # daily at 08:30: due at the next 08:30 in the zone
    d.due, d.reason                              # ..., "folded into the daily digest at 08:30 MSK"

Every instant is aware. A wall time a DST change skips (02:30 on the spring-forward night)
means the instant after the gap; one it repeats (01:30 on the fall-back night), the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from notify.settings import CustomerRules, QuietHours

__all__ = ["CHANNELS", "CUSTOMER_EVENTS", "FREQUENCIES", "Delivery", "Effective", "OptOut", "Stored", "effective",
           "next_wall_time", "plan", "quiet_end", "when_due"]

CHANNELS = ("email", "sms", "telegram")
FREQUENCIES = ("immediately", "hourly", "daily")
CUSTOMER_EVENTS = ("acknowledgement", "assigned", "status_changed", "resolved", "closed", "csat_survey",
                   "waiting_reminder")
SOURCES = ("default", "segment", "crm", "cli", "web")
#: fields a person set (CLI, page); an import never overwrites them
PERSONAL = ("cli", "web")


@dataclass(frozen=True)
class OptOut:
    """A channel the contact withdrew from: when and how (link, cli, web, crm)."""

    channel: str
    at: datetime
    via: str

    def __str__(self) -> str:
        return f"opted out of {self.channel} on {self.at:%Y-%m-%d} via {self.via}"


@dataclass(frozen=True)
class Stored:
    """What one contact chose (None: not chosen); `sources` names who set each field."""

    channels: tuple[str, ...] | None = None
    events: tuple[str, ...] | None = None
    frequency: str | None = None
    digest_at: time | None = None
    quiet: QuietHours | None = None
    language: str | None = None
    timezone: str | None = None
    email: str | None = None
    phone: str | None = None
    telegram: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Effective:
    """A contact's preferences after the layers; `addresses` by channel (None: none known)."""

    channels: tuple[str, ...]
    events: frozenset[str]
    frequency: str
    digest_at: time
    quiet: QuietHours | None
    language: str
    timezone: str
    addresses: Mapping[str, str | None]
    opt_outs: Mapping[str, OptOut]
    sources: Mapping[str, str]


@dataclass(frozen=True)
class Delivery:
    """One channel's row for an event: to `address`, due at `due`; `reason` says why it waits
    (or, with `opted_out`, why it is withdrawn). `fold`: hourly/daily rows go as one digest."""

    channel: str
    address: str
    due: datetime
    reason: str | None = None
    opted_out: OptOut | None = None
    fold: str | None = None


def effective(rules: CustomerRules, *, segment: str | None, stored: Stored | None, quiet: QuietHours | None,
              default_zone: str, addresses: Mapping[str, str | None], opt_outs: Mapping[str, OptOut]) -> Effective:
    """The contact's preferences: `stored` beats the segment's defaults, which beat `rules`'
    (`quiet`: the global quiet hours). `addresses`: the contact's e-mail and phone as the CRM
    holds them; a stored address beats it."""
    seg = rules.segments.get(segment or "")
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    defaults: dict[str, object] = {"channels": tuple(rules.channels), "events": tuple(rules.events),
                                   "frequency": rules.frequency, "digest_at": rules.digest_at, "quiet": quiet,
                                   "language": rules.language, "timezone": rules.timezone or default_zone}
    for name, value in defaults.items():
        values[name], sources[name] = value, "default"
        chosen = getattr(seg, "quiet_hours" if name == "quiet" else name, None) if seg is not None else None
        if chosen is not None:
            values[name] = tuple(chosen) if isinstance(chosen, list) else chosen
            sources[name] = f"segment {segment}"
        mine = getattr(stored, name, None) if stored is not None else None
        if mine is not None:
            values[name], sources[name] = mine, stored.sources.get(name, "cli") if stored is not None else "cli"
    found = {"email": addresses.get("email"), "sms": addresses.get("sms"), "telegram": None}
    for channel, attr in (("email", "email"), ("sms", "phone"), ("telegram", "telegram")):
        mine_address = getattr(stored, attr) if stored is not None else None
        if mine_address:
            found[channel] = mine_address
            sources[attr] = stored.sources.get(attr, "cli") if stored is not None else "cli"
    return Effective(channels=tuple(cast("tuple[str, ...]", values["channels"])),
                     events=frozenset(cast("tuple[str, ...]", values["events"])), frequency=str(values["frequency"]),
                     digest_at=cast("time", values["digest_at"]), quiet=cast("QuietHours | None", values["quiet"]),
                     language=str(values["language"]), timezone=str(values["timezone"]), addresses=found,
                     opt_outs=dict(opt_outs), sources=sources)


def plan(prefs: Effective, event: str, now: datetime) -> list[Delivery]:
    """The rows `event` gets for a contact with `prefs`, at `now`: one per chosen channel that
    has an address (an opted-out one withdrawn, with the reason); none for an event not chosen.

    Raises:
        ValueError: `now` is naive.
    """
    _aware(now)
    if event not in prefs.events:
        return []
    due, reason, fold = when_due(prefs, now)
    out: list[Delivery] = []
    for channel in prefs.channels:
        address = prefs.addresses.get(channel)
        if not address:
            continue
        gone = prefs.opt_outs.get(channel)
        if gone is not None:
            out.append(Delivery(channel, address, now, str(gone), gone))
        else:
            out.append(Delivery(channel, address, due, reason, None, fold))
    return out


def when_due(prefs: Effective, now: datetime) -> tuple[datetime, str | None, str | None]:
    """(due, why it waits, digest kind) for a notification to a contact with `prefs` at `now`:
    now; the next full hour or the next ``digest_at`` (their zone); then after quiet hours."""
    zone = ZoneInfo(prefs.timezone)
    due, reason, fold = now, None, None
    if prefs.frequency == "hourly":
        due, fold = _next_hour(now, zone), "hourly"
    elif prefs.frequency == "daily":
        due, fold = next_wall_time(now, prefs.digest_at, zone), "daily"
    if fold is not None:
        reason = f"folded into the {fold} digest at {due.astimezone(zone):%H:%M %Z}"
    if prefs.quiet is not None:
        after = quiet_end(due, prefs.quiet, zone)
        if after != due:
            due = after
            reason = f"quiet hours until {due.astimezone(zone):%H:%M %Z}" + (f" ({fold} digest)" if fold else "")
    return due, reason, fold


def next_wall_time(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first instant at or after `now` whose wall time in `zone` is `at` (a skipped one:
    the instant after the gap)."""
    _aware(now)
    local = now.astimezone(zone).date()
    for days in range(3):
        candidate = _wall(local + timedelta(days=days), at, zone)
        if candidate >= now:
            return candidate
    msg = f"no {at} after {now} in {zone}"  # unreachable: a day holds every wall time, or the instant after its gap
    raise AssertionError(msg)


def quiet_end(moment: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime:
    """`moment` if it is outside `quiet` (wall time in `zone`), else when the quiet hours end."""
    if not quiet.contains(moment.astimezone(zone).time()):
        return moment
    return next_wall_time(moment, quiet.to, zone)


def _next_hour(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    start = local.replace(minute=0, second=0, microsecond=0)
    return now if start == local else (start.astimezone(UTC) + timedelta(hours=1)).astimezone(now.tzinfo)


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0: a skipped wall time takes the offset before the change, which lands after the
    # gap; a repeated one is its first occurrence.
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone).astimezone(UTC)


def _aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"naive datetime {value.isoformat()}: preferences are computed on aware instants only"
        raise ValueError(msg)
