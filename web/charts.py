"""The dashboard's charts: their data read through the kpi addon's queries (``kpi.series``
and ``kpi.queries.compliance_and_load``; CSAT through the ``kpi.csat`` source the csat addon
registers, capacity from routing's roster), then drawn by ``web.svg`` with the page's words.

``chart_data`` is plain data (``/api/dashboard`` returns it as ``charts``); ``draw`` turns it
into SVG in one language. Example::

    data = chart_data(app, app.clock())
    svgs = draw(data, MESSAGES["en"], "en")   # {"volume": Markup("<svg ..."), "sla": ..., ...}
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from markupsafe import Markup

from crm_bridge.app import App
from kpi.figures import METRICS, Compliance
from kpi.period import Period
from kpi.queries import compliance_and_load
from kpi.series import AGE_EDGES, backlog_ages, volume_per_day, weekly_csat
from routing.roster import read_roster
from web.svg import bar_chart, column_chart, line_chart, load_chart, share_chart
from web.view import DEFAULT, View

__all__ = ["DAYS", "WEEKS", "chart_data", "draw", "recent_days"]

DAYS, SLA_DAYS, WEEKS = 14, 30, 8  # the volume chart's days, the SLA chart's days, the CSAT chart's weeks
AGENTS = 15  # the most loaded agents the load chart shows


def recent_days(now: datetime, zone: ZoneInfo, days: int, label: str) -> Period:
    """The last `days` calendar days in `zone`, today included (until `now`)."""
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    return Period(label, datetime.combine(first, time(0), tzinfo=zone), now)


def chart_data(app: App, now: datetime, view: View = DEFAULT) -> dict[str, Any]:
    """What the charts show at `now` (aware): ``volume`` (days, each with counts per
    channel), ``sla`` (per target: met, ended, share), ``backlog`` (the open requests per
    age bucket), ``csat`` (weeks with surveys, answers, score; None without the csat addon)
    and ``load`` (agents: open requests, routing's capacity), of the requests `view` keeps.

    Without a period in `view`: volume of the last 14 days, SLA over the last 30, CSAT by
    week over the last 8, backlog and load now. With one: all over that period, backlog and
    load at its end (``Period.cut``: now for a running period)."""
    zone = ZoneInfo(app.config.timezone)
    config = app.config.section("kpi")
    sources = app.registry.all("kpi.csat")
    csat = sources[0].obj if sources else None
    chosen, filters = view.period, view.filters()
    days_span = chosen or recent_days(now, zone, DAYS, f"last-{DAYS}d")
    sla_span = chosen or Period(f"last-{SLA_DAYS}d", now - timedelta(days=SLA_DAYS), now)
    weeks_span = chosen or recent_days(now, zone, 7 * WEEKS, f"last-{WEEKS}w")
    cut = sla_span.cut(now)
    with app.store.transaction() as s:
        days = volume_per_day(s, days_span, zone, config, filters=filters)
        total, agents = compliance_and_load(s, sla_span, now, config, filters=filters)
        ages = backlog_ages(s, cut, config=config, filters=filters, past=cut < now)
        weeks = weekly_csat(s, weeks_span, zone, config, csat, filters=filters) if csat is not None else None
        roster = read_roster(s, app.config, now)
    capacity = {state.name: state.capacity.max for state in roster.states.values()}
    load = sorted(((row.key[0], row.backlog, capacity.get(row.key[0])) for row in agents
                   if row.key[0] != "—" and (row.backlog or row.key[0] in capacity)), key=lambda r: (-r[1], r[0]))
    return {
        "volume": [{"day": day, "counts": counts} for day, counts in days],
        "sla": [{"metric": m, "met": c.met, "ended": c.ended, "share": c.share}
                for m in METRICS for c in [total.sla.get(m, Compliance())]],
        "backlog": [{"under_hours": edge, "count": n} for edge, n in ages],
        "csat": None if weeks is None else [{"week": w, "surveys": n, "answered": a, "score": score}
                                            for w, n, a, score in weeks],
        "load": [{"agent": name, "open": n, "capacity": cap} for name, n, cap in load[:AGENTS]],
    }


def _age_label(edge: int | None, previous: int, t: dict[str, str]) -> str:
    def span(hours: int) -> str:
        return f"{hours} {t['hours_short']}" if hours < 24 else f"{hours // 24} {t['days_short']}"

    if edge is None:
        return f"> {span(previous)}"
    return f"< {span(edge)}" if not previous else f"{span(previous)}–{span(edge)}"


def draw(data: dict[str, Any], t: dict[str, str], lang: str, *, period: str | None = None) -> dict[str, Markup]:
    """Each chart of `data` (``chart_data``) as SVG with the words `t` and `lang`'s dates
    (Babel); no ``csat`` key without a CSAT source. With `period` (the chosen period's label)
    the titles name it instead of the default spans ("14 days", "30 days")."""

    def title(key: str) -> str:
        return t[key] if period is None else f"{t[key + '_of']}, {period}"

    def day(d: Any) -> str:
        return str(format_date(d, "dd.MM", locale=lang))

    edges = (0, *AGE_EDGES)
    ages = [(_age_label(row["under_hours"], edges[i], t), row["count"], row["count"] if row["under_hours"] is None else 0)
            for i, row in enumerate(data["backlog"])]

    out = {
        "volume": column_chart([(day(d["day"]), d["counts"]) for d in data["volume"]], title=title("chart_volume")),
        "sla": share_chart([(t[f"metric_{r['metric']}"], r["share"], r["ended"]) for r in data["sla"]],
                           title=title("chart_sla")),
        "backlog": bar_chart(ages, title=title("chart_backlog")),
        "load": load_chart([(r["agent"], r["open"], r["capacity"]) for r in data["load"]], title=title("chart_load")),
    }
    if data["csat"] is not None:
        out["csat"] = line_chart([(day(w["week"]), w["score"]) for w in data["csat"]], title=title("chart_csat"),
                                 low=1, high=5)
    return out
