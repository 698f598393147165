"""The ``csat:`` configuration section: when a survey goes, how long it may be answered.

::

    csat:
      enabled: true              # off by default: turning it on mails every customer whose request is resolved
      delay: 2h                  # after the resolution, before the survey goes
      window: 7d                 # the link works this long; the rating may be changed meanwhile
      max_per_contact: 1 per 30d # at most this many surveys to one contact (else customer) in the period
      scale: five                # five: 1-5; faces: three faces (scores 1, 3, 5)
      low_at: 2                  # a rating at or below it publishes csat.low (the supervisor follows it up)

Surveys need ``links.secret`` (they carry signed links) and notify (they go through it):
``enabled: true`` without either stops ``crm-bridge`` at start.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from crm_bridge.config import Strict, config_problem
from sla.policy import Duration, parse_duration

__all__ = ["SCORES", "CsatConfig", "Cap"]

#: The scores each scale offers; three faces are stored on the same 1-5 scale.
SCORES: dict[str, tuple[int, ...]] = {"five": (1, 2, 3, 4, 5), "faces": (1, 3, 5)}
_CAP = re.compile(r"\s*(\d+)\s+per\s+(\S+)\s*")


class Cap(Strict):
    """At most `count` surveys to one contact per `period`."""

    count: int = Field(ge=1, le=1000)
    period: timedelta


class CsatConfig(Strict):
    enabled: bool = False
    delay: Duration = timedelta(hours=2)
    window: Duration = timedelta(days=7)
    max_per_contact: Cap = Cap(count=1, period=timedelta(days=30))
    scale: Literal["five", "faces"] = "five"
    low_at: int = Field(default=2, ge=1, le=5)

    @field_validator("max_per_contact", mode="before")
    @classmethod
    def _cap(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        found = _CAP.fullmatch(value)
        if found is None:
            msg = f"{value!r} is not a cap; write `<count> per <duration>`, e.g. `1 per 30d` or `2 per 90d`"
            raise ValueError(msg)
        return Cap(count=int(found.group(1)), period=parse_duration(found.group(2)))

    @field_validator("window")
    @classmethod
    def _some_window(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1):
            msg = "a survey answered within less than an hour is no survey; write e.g. 7d"
            raise ValueError(msg)
        return value

    def check_across(self, config: Any) -> None:
        """Surveys carry signed links and go through notify: ``links.secret`` and a notify
        channel must be there when they are on."""
        if self.enabled and config.section("links").secret is None:
            raise config_problem(("csat", "enabled"), "surveys carry signed rating links; set "
                                 "`links: {secret: ${CRM_BRIDGE_LINK_SECRET}}` (32+ random characters) or `enabled: false`")
        if self.enabled and not config.section("notify").enabled:
            raise config_problem(("csat", "enabled"), "surveys go out through notify, which is off; add a `notify:` "
                                 "channel section (email, sms or telegram) or `enabled: false`")
