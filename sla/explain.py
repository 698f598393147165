"""The story ``crm-bridge sla explain`` tells about one request. Pure: the command reads
the store and the clock, this module decides what to show.

For each cycle the periods shown as counted are the working periods of the stretches
during which its clock ran — from the evaluation's own events (``activate``/``resume``
start a stretch; ``pause``, ``fulfil``, ``stop`` end it; ``apply_policy`` moves it to
another calendar) — so they add up to exactly the business time the cycle used, paused
or finished alike.

Example::

    stretches = running_stretches(cycle, evaluation.events, now)
    periods = counted_periods(stretches, settings.calendar)
    assert total(periods) == cycle.used
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from sla.calendar import Calendar
from sla.clock import Cycle, SlaEvent, TicketFacts
from sla.due import working_periods
from sla.views import (
    format_business_duration,
    format_instant,
    format_period,
    metric_name,
    state_name,
    zone_label,
)

__all__ = ["Stretch", "counted_periods", "cycle_view", "render_explain", "running_stretches", "total"]

_SHOWN_PERIODS = 12
_STARTS, _ENDS = ("activate", "resume"), ("pause", "fulfil", "stop")


@dataclass(frozen=True)
class Stretch:
    """A time the cycle's clock ran, on the calendar it ran on (wall-clock instants)."""

    start: datetime
    end: datetime
    calendar: str


def running_stretches(cycle: Cycle, events: Sequence[SlaEvent], now: datetime) -> list[Stretch]:
    """The stretches during which `cycle`'s clock ran, read from the evaluation's events;
    a clock still running at `now` runs until `now`. Empty stretches are left out."""
    found: list[Stretch] = []
    since: datetime | None = None
    calendar = cycle.calendar
    for event in events:
        if event.metric != cycle.metric or event.cycle != cycle.index:
            continue
        if event.kind in _STARTS and since is None:
            since = event.at
        elif event.kind == "apply_policy":  # used time stays on the old calendar; the rest runs on the new
            if since is not None:
                found.append(Stretch(since, event.at, calendar))
                since = event.at
            calendar = str(event.data.get("calendar", calendar))
        elif event.kind in _ENDS and since is not None:
            found.append(Stretch(since, event.at, calendar))
            since = None
    if since is not None:
        found.append(Stretch(since, max(since, now), calendar))
    return [s for s in found if s.end > s.start]


def counted_periods(stretches: Sequence[Stretch], calendars: Callable[[str], Calendar]) -> list[tuple[datetime, datetime]]:
    """The working periods inside `stretches`, each on its own calendar, in time order."""
    return [period for s in stretches for period in working_periods(calendars(s.calendar), s.start, s.end)]


def total(periods: Sequence[tuple[datetime, datetime]]) -> timedelta:
    """Elapsed time of `periods`, measured in UTC (exact across a DST change)."""
    return sum((b.astimezone(UTC) - a.astimezone(UTC) for a, b in periods), timedelta(0))


def _ended_by(cycle: Cycle, facts: TicketFacts) -> str | None:
    """What ended the cycle, as far as the request's history tells."""
    at = cycle.ended_at
    statuses = [c for c in facts.changes if c.field == "status" and c.at == at]
    if cycle.metric == "first_response" and facts.first_response_at is not None and facts.first_response_at == at:
        return "the first response the CRM recorded"
    if cycle.metric == "next_response" and any(c.field == "message" and c.value == "agent" and c.at == at for c in facts.changes):
        return "the agent's answer"
    if statuses:
        return f"status {statuses[-1].value}"
    if at is not None and not any(c.field == "status" and c.at <= at for c in facts.changes):
        return f"status {facts.initial.get('status')}"
    return None


def _paused_since(cycle: Cycle, events: Sequence[SlaEvent]) -> dict[str, Any] | None:
    if cycle.state != "paused":
        return None
    pauses = [e for e in events if e.metric == cycle.metric and e.cycle == cycle.index and e.kind == "pause"]
    return {"at": pauses[-1].at, "status": pauses[-1].data.get("status")} if pauses else None


def cycle_view(cycle: Cycle, events: Sequence[SlaEvent], facts: TicketFacts,
               calendars: Callable[[str], Calendar], now: datetime) -> dict[str, Any]:
    """A cycle as ``sla explain`` shows it (and ``--json`` prints it): times as instants,
    durations in seconds, ``periods`` the working periods counted (they add up to ``used``)."""
    stretches = running_stretches(cycle, events, now)
    periods = counted_periods(stretches, calendars)
    ending = None if cycle.ended_at is None else {"outcome": cycle.state, "at": cycle.ended_at, "by": _ended_by(cycle, facts)}
    return {
        "metric": cycle.metric, "cycle": cycle.index, "policy": cycle.policy, "calendar": cycle.calendar,
        "start": cycle.start, "target": cycle.target.total_seconds(), "used": cycle.used.total_seconds(),
        "due": cycle.due, "state": cycle.state, "ended_at": cycle.ended_at, "ending": ending,
        "paused": _paused_since(cycle, events),
        "stretches": [[s.start, s.end, s.calendar] for s in stretches],
        "periods": [[a, b] for a, b in periods], "counted": total(periods).total_seconds(),
        "notes": list(getattr(cycle, "notes", [])),
    }


# -- rendering ---------------------------------------------------------------------------
def _outcome(c: Mapping[str, Any], zone: tzinfo) -> str:
    ending, paused = c["ending"], c["paused"]
    if ending is not None:
        by = f" ({escape(ending['by'])})" if ending["by"] else ""
        colour = {"met": "green", "missed": "red"}.get(ending["outcome"], "yellow")
        return f"[{colour}]{ending['outcome']}[/{colour}] at {format_instant(ending['at'], zone)}{by}"
    if paused is not None:
        status = f" (status {escape(str(paused['status']))})" if paused["status"] else ""
        return f"[yellow]paused[/yellow] since {format_instant(paused['at'], zone)}{status}"
    colour = {"breached": "red", "warning": "yellow"}.get(c["state"], "green")
    return f"[{colour}]{state_name(c['state'])}[/{colour}]"


def _cycle_lines(c: Mapping[str, Any], zone: tzinfo) -> list[RenderableType]:
    target, used = timedelta(seconds=c["target"]), timedelta(seconds=c["used"])
    title = (f"\n[bold]{metric_name(c['metric']).capitalize()} #{c['cycle']}[/bold] — {escape(c['policy'])}, "
             f"on {escape(c['calendar'])}: {_outcome(c, zone)}")
    if c["ending"] is not None:
        spent = "within the target" if used <= target else f"{format_business_duration(used - target)} over the target"
        due = format_instant(c["due"], zone) if c["due"] else "—"
    elif c["paused"] is not None:
        spent = f"{format_business_duration(target - used)} left" if used < target else "target used up"
        due = "none while the clock is paused"
    else:
        spent = f"{format_business_duration(target - used)} left" if used < target else \
            f"overdue by {format_business_duration(used - target)}"
        due = format_instant(c["due"], zone) if c["due"] else "—"
    periods = c["periods"]
    shown = [format_period(a, b, zone) for a, b in periods[:_SHOWN_PERIODS]]
    if len(periods) > _SHOWN_PERIODS:
        shown.append(f"… and {len(periods) - _SHOWN_PERIODS} more (all of them in --json)")
    count = f"{len(periods)} working period" + ("" if len(periods) == 1 else "s")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    grid.add_row("  started", format_instant(c["start"], zone))
    grid.add_row("  target", format_business_duration(target))
    grid.add_row("  used", f"{format_business_duration(used)}, {spent}")
    grid.add_row("  due", due)
    if periods:
        grid.add_row("  counted", f"{format_business_duration(timedelta(seconds=c['counted']))} in {count}:")
        for line in shown:
            grid.add_row("", line)
    else:
        grid.add_row("  counted", "no working time yet")
    lines: list[RenderableType] = [title, grid]
    lines += [f"  [yellow]note: {escape(note)}[/yellow]" for note in c["notes"]]
    return lines


def _details(data: Mapping[str, Any]) -> str:
    shown = []
    for key, value in data.items():
        if key.endswith("target_seconds"):
            shown.append(f"{key.removesuffix('_seconds').replace('_', ' ')} {format_business_duration(timedelta(seconds=value))}")
        elif value is not None:
            shown.append(f"{key.replace('_', ' ')}: {value}")
    return escape("; ".join(shown))


def render_explain(story: Mapping[str, Any], zone: tzinfo) -> list[RenderableType]:
    """What ``sla explain`` prints, from the story its ``--json`` prints; times in `zone`."""
    r, now = story["request"], story["request"]["now"]
    out: list[RenderableType] = []
    if story.get("resolved_from"):
        out.append(f"[dim]{escape(story['resolved_from'])} is {escape(r['number'])}, the only request with that number[/dim]")
    out.append(f"[bold]{escape(r['number'])}[/bold] {escape(str(r['subject'] or ''))}")
    out.append(f"{r['type']}, priority {r['priority']}, {r['channel']}; status {r['status']}; "
               f"opened {format_instant(r['opened'], zone)}; now {format_instant(now, zone)}; "
               f"times in {zone_label(zone, now)} ({getattr(zone, 'key', zone)})")
    table = Table("#", "policy", "", "why", title="Policies, in order (first match wins)")
    for p in story["policies"]:
        table.add_row(str(p["order"]), escape(p["name"]), "[green]matched[/green]" if p["matched"] else "[dim]no[/dim]",
                      escape(p["reason"]))
    out.append(table)
    if story["policy"] is None:
        out.append("[yellow]no policy matched: this request has no SLA[/yellow]")
        return out
    targets = ", ".join(f"{metric_name(m)} {format_business_duration(timedelta(seconds=v))}"
                        for m, v in story["targets"].items() if v is not None)
    out.append(f"Policy [bold]{escape(story['policy'])}[/bold]; targets for priority {r['priority']}: "
               f"{targets} on {escape(story['calendar'])}")
    for cycle in story["cycles"]:
        out += _cycle_lines(cycle, zone)
    ledger = Table("when", "gen", "metric", "#", "event", "used", "details",
                   title=f"Ledger (generation {story['ledger_generation']} is current)")
    for e in story["ledger"]:
        ledger.add_row(format_instant(e["at"], zone, with_zone=False), str(e["generation"]), metric_name(e["metric"]),
                       str(e["cycle"]), e["kind"], format_business_duration(timedelta(seconds=e["business"])),
                       _details(e["data"]))
    out.append(ledger)
    return out
