"""The events notify has a template for, by name.

Apart from :mod:`notify.templates` (Jinja2, Babel) so that ``crm-bridge notify preview
--help`` can list them without loading a template engine.
"""

from __future__ import annotations

__all__ = ["EVENTS"]

EVENTS = ("acknowledgement", "assigned", "status_changed", "resolved", "closed", "sla_warn", "sla_breach", "sla_escalate",
          "assigned_staff", "department_feedback", "csat_survey", "csat_low", "waiting_reminder")
