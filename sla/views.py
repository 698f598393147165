"""What the ``crm-bridge sla`` commands show a supervisor, built from plain data. Pure:
no store, no clock (``now`` is an argument), no printing.

Durations are business time and read ``3 h 04 min``; instants are shown in a calendar's
time zone as ``29.12.2026 10:56 MSK``; policies read as a person would say them
(``type: urgent``, ``first response 30 min, resolution 4 h on 24x7``), never as Python
reprs or ISO durations. ``--json`` gets the same data with durations in seconds beside
the text.

Example::

    format_business_duration(timedelta(hours=3, minutes=4))   # '3 h 04 min'
    format_period(start, end, zone)                           # '29.12.2026 10:56–13:00'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from crm_bridge.model import Priority
from sla.calendar import Calendar
from sla.policy import METRICS, Escalation, PolicySpec, Targets, Warn

__all__ = [
    "calendar_zone",
    "duration_json",
    "format_business_duration",
    "format_date",
    "format_instant",
    "format_period",
    "metric_name",
    "left_text",
    "policy_view",
    "render_due_list",
    "render_policies",
    "shorten",
    "state_name",
    "targets_text",
    "zone_label",
]

_PRIORITY_ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)
_CONDITIONS = ("type", "priority", "channel", "source", "customer", "segment", "contract", "team", "tags")
_ACTIONS = {"notify_supervisor": "notify the supervisor", "raise_priority": "raise the priority"}


# -- durations, instants, periods ------------------------------------------------------
def format_business_duration(value: timedelta) -> str:
    """``3 h 04 min``, ``4 h``, ``30 min``, ``45 s``; negative values get a ``-``.

    Business hours are never folded into days: a business "day" is 8 h on one calendar
    and 24 h on another, so ``48 h`` stays ``48 h``. Seconds are dropped from a minute up.
    """
    seconds = int(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if 0 < seconds < 60:
        return f"{sign}{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return f"{sign}{hours} h {minutes:02d} min"
    if hours:
        return f"{sign}{hours} h"
    return f"{sign}{minutes} min"


def duration_json(value: timedelta) -> dict[str, Any]:
    """A duration for ``--json``: seconds for scripts, the text people see."""
    return {"seconds": value.total_seconds(), "text": format_business_duration(value)}


def calendar_zone(calendar: Calendar, default: tzinfo) -> tzinfo:
    """The zone a calendar's instants are shown in: its own, else `default` (a composed
    calendar has no single zone)."""
    zone: tzinfo | None = getattr(calendar, "zone", None)
    return zone if zone is not None else default


def zone_label(zone: tzinfo, at: datetime) -> str:
    """``MSK`` where the zone has a lettered abbreviation at `at`, else ``(Asia/Yekaterinburg)``."""
    abbreviation = at.astimezone(zone).tzname() or ""
    if abbreviation.isalpha():
        return abbreviation
    return f"({zone.key})" if isinstance(zone, ZoneInfo) else f"(UTC{abbreviation})"


def format_date(value: date) -> str:
    return f"{value.day:02d}.{value.month:02d}.{value.year}"


def format_instant(value: datetime | None, zone: tzinfo, *, with_zone: bool = True) -> str:
    """``29.12.2026 10:56 MSK`` in `zone`; ``—`` for None."""
    if value is None:
        return "—"
    local = value.astimezone(zone)
    text = f"{format_date(local.date())} {local.hour:02d}:{local.minute:02d}"
    return f"{text} {zone_label(zone, value)}" if with_zone else text


def format_period(start: datetime, end: datetime, zone: tzinfo) -> str:
    """``29.12.2026 10:56–13:00`` within a day; ``31.12.2026 17:00 – 11.01.2027 09:00``
    across days (both dates, so a period over a holiday cannot be misread)."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.date() == b.date():
        return f"{format_instant(a, zone, with_zone=False)}–{b.hour:02d}:{b.minute:02d}"
    return f"{format_instant(a, zone, with_zone=False)} – {format_instant(b, zone, with_zone=False)}"


def metric_name(metric: str) -> str:
    """``first_response`` → ``first response``."""
    return metric.replace("_", " ")


def state_name(state: str | None) -> str:
    """``on_track`` → ``on track``; ``—`` for no state."""
    return "—" if state is None else state.replace("_", " ")


# -- policies --------------------------------------------------------------------------
def _conditions(policy: PolicySpec) -> list[str]:
    match = policy.match
    found = [f"{name}: {' or '.join(str(v) for v in values)}"
             for name in _CONDITIONS if (values := getattr(match, name)) is not None]
    if match.when:
        found.append(f"when: {match.when}")
    return found


def _target_json(value: timedelta | dict[Priority, timedelta]) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"by_priority": {str(p): duration_json(value[p]) for p in _PRIORITY_ORDER if p in value}}
    return duration_json(value)


def targets_text(targets: Targets, calendar: str) -> str:
    """``first response 30 min, resolution 4 h on 24x7``; with targets per priority
    ``first response 1 h; resolution urgent 4 h, high 8 h, normal 16 h on office``."""
    parts: list[str] = []
    per_priority = False
    for metric in METRICS:
        value: timedelta | dict[Priority, timedelta] | None = getattr(targets, metric)
        if value is None:
            continue
        if isinstance(value, dict):
            per_priority = True
            shown = ", ".join(f"{p} {format_business_duration(value[p])}" for p in _PRIORITY_ORDER if p in value)
        else:
            shown = format_business_duration(value)
        parts.append(f"{metric_name(metric)} {shown}")
    return ("; " if per_priority else ", ").join(parts) + f" on {calendar}"


def warn_text(warn: Warn) -> str:
    """``at 75 % of the target or 30 min before the due time, whichever comes first``."""
    rules = []
    if warn.share is not None:
        rules.append(f"at {warn.share * 100:g} % of the target")
    if warn.before is not None:
        rules.append(f"{format_business_duration(warn.before)} before the due time")
    if not rules:
        return "no warning"
    return " or ".join(rules) + (", whichever comes first" if len(rules) == 2 else "")


def escalation_text(escalation: Escalation) -> str:
    """``at the breach: notify the supervisor``, ``2 h after the breach: reassign to team L2``."""
    when = "at the breach" if not escalation.after else f"{format_business_duration(escalation.after)} after the breach"
    action = f"reassign to team {escalation.team}" if escalation.action == "reassign" else _ACTIONS[escalation.action]
    return f"{when}: {action}"


def _statuses(policy: PolicySpec) -> str:
    def listed(values: Sequence[object]) -> str:
        return " or ".join(str(v) for v in values)

    pause = f"pauses on {listed(policy.pause_on)}" if policy.pause_on else "never pauses"
    met = f"met on {listed(policy.fulfil_on)}" if policy.fulfil_on else "never met by a status"
    stop = f"stops on {listed(policy.stop_on)}" if policy.stop_on else "never stopped by a status"
    return f"{pause}; {met}; {stop}"


def _validity(policy: PolicySpec, today: date) -> str:
    valid = policy.valid
    if valid is None or (valid.from_ is None and valid.to is None):
        return "always"
    if valid.from_ and valid.to:
        text = f"{format_date(valid.from_)} – {format_date(valid.to)}"
    elif valid.from_:
        text = f"from {format_date(valid.from_)}"
    else:
        assert valid.to is not None
        text = f"until {format_date(valid.to)} (inclusive)"
    if valid.to and today > valid.to:
        text += " — expired"
    elif valid.from_ and today < valid.from_:
        text += " — not yet in force"
    return text


def policy_view(order: int, policy: PolicySpec, today: date) -> dict[str, Any]:
    """One policy as the ``sla policies`` view shows it: a ``*_text`` string for people
    beside each value for scripts (durations in seconds). `today` is the date in the
    configured zone, for "expired"."""
    targets: dict[str, Any] = {m: _target_json(v) for m in METRICS if (v := getattr(policy.targets, m)) is not None}
    return {
        "order": order,
        "name": policy.name,
        "conditions": _conditions(policy) or ["every request"],
        "match": policy.match.model_dump(mode="json", exclude_none=True),
        "calendar": policy.calendar,
        "targets": targets,
        "targets_text": targets_text(policy.targets, policy.calendar),
        "warn": {"share": policy.warn.share,
                 "before": duration_json(policy.warn.before) if policy.warn.before is not None else None,
                 "text": warn_text(policy.warn)},
        "escalations": [{"after": duration_json(e.after), "action": e.action, "team": e.team, "text": escalation_text(e)}
                        for e in policy.escalations],
        "escalations_text": "; ".join(escalation_text(e) for e in policy.escalations) or "none",
        "pause_on": [str(s) for s in policy.pause_on],
        "fulfil_on": [str(s) for s in policy.fulfil_on],
        "stop_on": [str(s) for s in policy.stop_on],
        "statuses_text": _statuses(policy),
        "valid": {"from": policy.valid.from_ if policy.valid else None, "to": policy.valid.to if policy.valid else None,
                  "text": _validity(policy, today)},
    }


# -- the due list ----------------------------------------------------------------------
def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to `width` characters with ``…``."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def left_text(left: dict[str, Any] | None, state: str | None) -> str:
    """``2 h 15 min left``, ``overdue by 1 h 05 min``; ``(wall)`` when not business time."""
    if left is None:
        return "paused" if state == "paused" else "—"
    seconds = left["seconds"]
    amount = format_business_duration(timedelta(seconds=abs(seconds)))
    wall = " (wall)" if left["measure"] == "wall" else ""
    return f"{amount} left{wall}" if seconds > 0 else f"overdue by {amount}{wall}"


_LIST_MAX = {"subject": 30, "policy": 20, "team": 16, "assignee": 24}


def render_due_list(rows: Sequence[dict[str, Any]], zone: tzinfo, now: datetime, *, limit: int,
                    width: int = 250) -> Table:
    """The ``sla list`` table: CRM numbers, never local ids; times in `zone`. On a terminal
    narrower than `width` needs, the assignee, team, policy and subject columns are left
    out in that order (``--json`` has them all) rather than cutting numbers and dates."""
    more = f", the first {limit}" if len(rows) >= limit else ""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False,
                  title=f"Requests by due time, soonest first ({len(rows)}{more}); now {format_instant(now, zone)}",
                  caption=f"Times in {zone_label(zone, now)} ({getattr(zone, 'key', zone)}); time left is business time "
                          "on the policy's calendar, (wall) where the calendar is unknown")
    # The number, the dates and the time left are never cut on a narrow terminal; the texts
    # around them (subject, policy, team, assignee) give way first.
    widest = max((len(r["number"] or "") for r in rows), default=7)
    fixed = {"request": widest, "first response due": 16, "resolution due": 16, "left / overdue": 24}
    headers = ["request", "subject", "status", "SLA", "policy", "first response due", "resolution due",
               "left / overdue", "team", "assignee"]
    for optional in ("assignee", "team", "policy", "subject"):
        if _list_width(headers, widest) <= width:
            break
        headers.remove(optional)
    for header in headers:
        table.add_column(header, no_wrap=True, min_width=fixed.get(header), max_width=_LIST_MAX.get(header))
    for r in rows:
        state = state_name(r["sla_state"])
        if r["breached"] and r["sla_state"] in ("on_track", "warning"):  # the resolution clock is fine, another is not
            late_first = r["first_response"] == "pending" and r["left"] is not None and r["left"]["seconds"] <= 0
            state = "[red]first response breached[/red]" if late_first else f"[red]{state}, breached[/red]"
        elif r["breached"] or r["sla_state"] in ("breached", "missed"):
            state = f"[red]{state}[/red]"
        elif r["sla_state"] == "warning":
            state = f"[yellow]{state}[/yellow]"
        first = format_instant(r["first_response_due"], zone, with_zone=False) if r["first_response"] == "pending" \
            else ("answered" if r["first_response"] == "done" else "—")
        left = left_text(r["left"], r["sla_state"])
        if left.startswith("overdue"):
            left = f"[red]{left}[/red]"
        cells = {"request": escape(r["number"]), "subject": escape(shorten(r["subject"] or "", 30)),
                 "status": r["status"], "SLA": state, "policy": escape(r["policy"] or "—"), "first response due": first,
                 "resolution due": format_instant(r["resolution_due"], zone, with_zone=False), "left / overdue": left,
                 "team": escape(r["team"] or "—"), "assignee": escape(r["assignee"] or "—")}
        table.add_row(*(cells[h] for h in headers))
    return table


def _list_width(headers: Sequence[str], number: int) -> int:
    """Characters the ``sla list`` table needs with `headers` (two of padding a column)."""
    need = {"request": number, "subject": 32, "status": 12, "SLA": 10, "policy": 14, "first response due": 18,
            "resolution due": 16, "left / overdue": 24, "team": 10, "assignee": 20}
    return sum(need[h] + 2 for h in headers)


def render_policies(views: Sequence[dict[str, Any]]) -> list[RenderableType]:
    """The ``sla policies`` text: one block per policy (from ``policy_view``), in order."""
    out: list[RenderableType] = ["[bold]SLA policies[/bold], in the order they are tried: "
                                 "the first that matches a request sets its targets"]
    for view in views:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        for label, value in (("applies to", "; ".join(view["conditions"])), ("targets", view["targets_text"]),
                             ("warning", view["warn"]["text"]), ("escalations", view["escalations_text"]),
                             ("clock", view["statuses_text"]), ("valid", view["valid"]["text"])):
            grid.add_row(f"   {label}", escape(value))
        out += [f"\n[bold]{view['order']}. {escape(view['name'])}[/bold]", grid]
    return out
