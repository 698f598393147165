"""Notify addon: acknowledgements, status changes and SLA alerts by e-mail.

Domain events become rows of the notification outbox in the event's transaction
(``notify.outbox``); ``notify.dispatch`` renders each row from the user's or the shipped
templates (``notify.templates``, sandboxed Jinja2, dates through Babel) and sends it over
SMTP (``notify.smtp``) with back-off, parking and withdrawal (``notify.dispatch``).
Example::

    templates = Templates(config.templates)
    mail = templates.render("acknowledgement", "ru", context)
    mail.subject        # "Обращение CRM-0000042 принято: Не проходит оплата"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notify.settings import NotifyConfig
from notify.templates import EVENTS, Rendered, TemplateProblem, Templates, format_when

if TYPE_CHECKING:
    from crm_bridge.registry import Registry

__all__ = ["EVENTS", "NotifyConfig", "Rendered", "TemplateProblem", "Templates", "format_when", "register"]


def register(registry: Registry) -> None:
    """Register the config section ``notify``, the ``ticket.imported`` and SLA event
    handlers, the job ``notify.dispatch``, the ``notify`` commands and the template check.
    The store side is imported here, so ``import notify`` pulls in no SQLAlchemy."""
    from notify.cli import notify_app
    from notify.compose import check_templates
    from notify.dispatch import notify_dispatch
    from notify.outbox import on_assigned, on_sla_event, on_ticket_imported
    from notify.shadow import held_mail

    registry.add(NotifyConfig, usage="config.section", name="notify")
    registry.add(on_ticket_imported, usage="event.handler", model="ticket.imported", name="notify.customer")
    for kind in ("warn", "breach", "escalate"):
        registry.add(on_sla_event, usage="event.handler", model=f"sla.{kind}", name=f"notify.sla.{kind}")
    registry.add(on_assigned, usage="event.handler", model="routing.assigned", name="notify.assigned")
    registry.add(notify_dispatch, usage="job", name="notify.dispatch")
    registry.add(notify_app, usage="cli.group", name="notify")
    registry.add(check_templates, usage="check.app", name="notify templates")
    registry.add(held_mail, usage="shadow.report", name="notify")
    from notify.status import notify_status

    registry.add(notify_status, usage="status.section", name="notify")
