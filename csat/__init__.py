"""CSAT addon: a survey after each resolution, the rating page, write-back, follow-ups.

``csat.tick`` plans the surveys due in SQL (``csat.planner``) and publishes ``csat.survey``
(notify mails the customer, through their preferences, a signed rating link); the page
``/rate/<token>`` (``csat.web``, mounted into the web addon) stores the rating
(``csat.rating``): ``record.changed`` writes ``csat_score``/``csat_comment`` back to the CRM,
``csat.low`` alerts the supervisor. ``crm-bridge csat report|send``. Example::

    from csat.report import csat_summary
    csat_summary(session, start, end, by="team")   # score, response rate, distribution
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy

if TYPE_CHECKING:
    from crm_bridge.registry import Registry

__all__ = ["register"]


def register(registry: Registry) -> None:
    """Register the ``csat`` config section, the job ``csat.tick``, the rating page (for the
    web addon), the ``csat`` commands and the fields it decides, each by name."""
    registry.add(Lazy("csat.settings:CsatConfig"), usage="config.section", name="csat")
    registry.add(Lazy("csat.planner:csat_tick"), usage="job", name="csat.tick")
    registry.add(Lazy("csat.web:mount"), usage="web.router", name="csat")
    registry.add(Lazy("csat.cli:csat_app", summary="Satisfaction surveys: report scores, send one now."),
                 usage="cli.group", name="csat")
    registry.add(frozenset({"csat_score", "csat_comment"}), usage="model.decided", model="ticket", name="csat")
    registry.add(Lazy("csat.planner:demo_line"), usage="demo.line", name="csat")
    registry.add(Lazy("csat.web:check_page"), usage="check.app", name="csat page")
    registry.add(Lazy("csat.report:surveys"), usage="kpi.csat", name="csat")  # the kpi addon's CSAT columns
