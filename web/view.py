"""What the supervisor chose to look at: the dashboard's period (the kpi period syntax,
``kpi.period``), team, agent and channel, read from the page's query string — a plain GET
form, so a filtered view is a link to share (``/dashboard?period=2026-11&team=L1``).

``read_view`` checks the values against the store's names (``choices``) and raises
``ViewProblem`` with a message key the page shows in the visitor's language; nothing here
is rendered or logged. Example::

    view = read_view({"period": "2026-Q4", "team": "L1"}, choices(app), zone, now)
    view.filters()   # kpi.figures.Filters(team="L1")
    view.query()     # "period=2026-Q4&team=L1"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.model import Channel
from crm_bridge.store.tables import AgentRow, TeamRow
from kpi.errors import BadPeriod
from kpi.figures import Filters
from kpi.period import EXAMPLES, Period, parse_period

__all__ = ["DEFAULT", "FIELDS", "View", "ViewProblem", "choices", "presets", "read_view"]

#: the query parameters the dashboard reads (the form's field names)
FIELDS = ("period", "team", "agent", "channel")
MAX_TEXT = 100  # longer values are not periods or names: refused before parsing
MAX_SPAN = timedelta(days=367)  # a year (and a DST hour): the volume chart draws a column a day


@dataclass(frozen=True)
class View:
    """The chosen period (None: the dashboard's default spans — 14 days of volume, 30 days
    of SLA, 8 weeks of CSAT) and the team, agent and channel (None: any)."""

    period: Period | None = None
    team: str | None = None
    agent: str | None = None
    channel: str | None = None

    def filters(self) -> Filters:
        """The kpi addon's filter of the same choice."""
        return Filters(team=self.team, agent=self.agent, channel=self.channel)

    def given(self) -> dict[str, str]:
        """The non-empty choices as the query string carries them."""
        values = {
            "period": self.period.label if self.period else None,
            "team": self.team,
            "agent": self.agent,
            "channel": self.channel,
        }
        return {k: v for k, v in values.items() if v}

    def query(self) -> str:
        """The query string of this view ('' for the default): the shareable link's tail."""
        return urlencode(self.given())


DEFAULT = View()


class ViewProblem(Exception):  # noqa: N818 - a message for the page, not a failure of ours
    """A value of the query string the dashboard cannot show: `key` names the words of
    ``web.i18n`` (``view_bad_period``, ``view_unknown_team``, …), `value` what was typed,
    `typed` every value of the form (shown again in it)."""

    def __init__(
        self, key: str, value: str, detail: str = "", typed: dict[str, str] | None = None
    ) -> None:
        super().__init__(
            f"dashboard view: {key.removeprefix('view_').replace('_', ' ')} {value!r}"
            + (f" ({detail})" if detail else "")
        )
        self.key, self.value, self.detail, self.typed = key, value, detail, dict(typed or {})


def choices(app: App) -> dict[str, list[str]]:
    """The names the form offers: teams, agents and the channels of the canonical model (a
    fixed list: reading the channels requests came through was a pass over every request
    on each page, 0.35 CPU s at 1,000,000 requests)."""
    with app.store.transaction() as s:
        teams = list(s.scalars(select(TeamRow.name).order_by(TeamRow.name)))
        agents = list(s.scalars(select(AgentRow.name).order_by(AgentRow.name)))
    return {"team": teams, "agent": agents, "channel": [str(c) for c in Channel]}


def read_view(
    params: Mapping[str, str], known: Mapping[str, list[str]], zone: tzinfo, now: datetime
) -> View:
    """The view the query string `params` asks for; empty or missing values mean "any".

    Raises:
        ViewProblem: the period is not one (``kpi.period`` forms), or a team, agent or
            channel is not in `known` (``choices``).
    """
    typed = {k: str(params.get(k) or "").strip()[:MAX_TEXT] for k in FIELDS}
    typed = {k: v for k, v in typed.items() if v}
    period: Period | None = None
    if "period" in typed:
        try:
            period = parse_period(typed["period"], zone, now)
        except BadPeriod as exc:
            raise ViewProblem("view_bad_period", typed["period"], str(exc), typed) from exc
        if period.start >= now:
            raise ViewProblem("view_future_period", typed["period"], "", typed)
        if period.end - period.start > MAX_SPAN:
            raise ViewProblem("view_long_period", typed["period"], "", typed)
    for name in ("team", "agent", "channel"):
        if name in typed and typed[name] not in known.get(name, []):
            raise ViewProblem(f"view_unknown_{name}", typed[name], "", typed)
    return View(period, typed.get("team"), typed.get("agent"), typed.get("channel"))


def presets(zone: tzinfo, now: datetime) -> list[str]:
    """Periods offered as links: the last 7 and 30 days, this month and the last, this
    quarter and this year (in `zone`), then ``kpi.period``'s own examples."""
    today = now.astimezone(zone).date()
    last_month = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    found: list[Any] = [
        "last-7d",
        "last-30d",
        f"{today:%Y-%m}",
        f"{last_month:%Y-%m}",
        f"{today.year}-Q{(today.month - 1) // 3 + 1}",
        str(today.year),
    ]
    return list(dict.fromkeys([*found, *(e for e in EXAMPLES if e.startswith("last-"))]))
