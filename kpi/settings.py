"""The ``kpi:`` configuration section: the repeat-contact window and hourly costs.

Example::

    kpi:
      repeat_within_days: 7          # a request is a repeat contact of one opened <= 7 days before
      cost:
        currency: RUB
        hourly: 1500                 # anyone without a rate of their own
        teams: {L1: 1200, L2: 1800}  # by team name, as in the store
        agents: {"Иванова Анна": 2000}

With no ``cost`` (or no rate at all) the report shows cost per request as "—".
"""

from __future__ import annotations

from pydantic import Field

from crm_bridge.config import Strict

__all__ = ["CostConfig", "KpiConfig"]


class CostConfig(Strict):
    """Hourly cost of business time worked: an agent's own rate, else their request's
    team's, else ``hourly``."""

    currency: str = Field(default="RUB", min_length=1, max_length=10)
    hourly: float | None = Field(default=None, ge=0)
    teams: dict[str, float] = {}
    agents: dict[str, float] = {}

    @property
    def configured(self) -> bool:
        return self.hourly is not None or bool(self.teams) or bool(self.agents)


class KpiConfig(Strict):
    repeat_within_days: int = Field(default=7, ge=1, le=365)
    cost: CostConfig = CostConfig()
