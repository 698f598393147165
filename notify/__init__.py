"""Notify addon: acknowledgements, status changes and SLA alerts by e-mail, SMS,
Telegram and signed webhooks.

Domain events become rows of the notification outbox in the event's transaction
(``notify.outbox``); ``notify.dispatch`` renders each row from the user's or the shipped
templates (``notify.templates``, sandboxed Jinja2, dates through Babel) and hands it to
the row's channel (``notify.channels``: SMTP, SMS.ru, the Telegram Bot API, webhooks)
with back-off, parking and withdrawal (``notify.dispatch``).
Example::

    templates = Templates(config.templates)
    mail = templates.render("acknowledgement", "ru", context)
    mail.subject        # "Обращение CRM-0000042 принято: Не проходит оплата"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, lazy_exports

if TYPE_CHECKING:
    from crm_bridge.registry import Registry
    from notify.settings import NotifyConfig
    from notify.templates import EVENTS, Rendered, TemplateProblem, Templates, format_when

__all__ = ["EVENTS", "NotifyConfig", "Rendered", "TemplateProblem", "Templates", "format_when", "register"]
__getattr__ = lazy_exports(__name__, {**dict.fromkeys(["EVENTS", "Rendered", "TemplateProblem", "Templates", "format_when"],
                                                       "notify.templates"),
                                      "NotifyConfig": "notify.settings"})


def register(registry: Registry) -> None:
    """Register the config section ``notify``, the ``ticket.imported`` and SLA event
    handlers, the job ``notify.dispatch``, the ``notify`` commands and the template check,
    each by name (``Lazy``): Jinja2, Babel and SQLAlchemy load only when used."""
    registry.add(Lazy("notify.settings:NotifyConfig"), usage="config.section", name="notify")
    registry.add(Lazy("notify.outbox:on_ticket_imported"), usage="event.handler", model="ticket.imported", name="notify.customer")
    for kind in ("warn", "breach", "escalate"):
        registry.add(Lazy("notify.outbox:on_sla_event"), usage="event.handler", model=f"sla.{kind}", name=f"notify.sla.{kind}")
    registry.add(Lazy("notify.outbox:on_assigned"), usage="event.handler", model="routing.assigned", name="notify.assigned")
    registry.add(Lazy("notify.outbox:on_csat_survey"), usage="event.handler", model="csat.survey", name="notify.csat_survey")
    registry.add(Lazy("notify.outbox:on_csat_low"), usage="event.handler", model="csat.low", name="notify.csat_low")
    registry.add(Lazy("notify.prefs_store:on_contact_imported"), usage="event.handler", model="contact.imported",
                 name="notify.prefs")
    registry.add(Lazy("notify.dispatch:notify_dispatch"), usage="job", name="notify.dispatch")
    registry.add(Lazy("notify.cli:notify_app", summary="Notifications: preview a mail, see what was sent and why not."),
                 usage="cli.group", name="notify")
    registry.add(Lazy("notify.compose:check_templates"), usage="check.app", name="notify templates")
    registry.add(Lazy("notify.shadow:held_mail"), usage="shadow.report", name="notify")
    registry.add(Lazy("notify.status:notify_status"), usage="status.section", name="notify")
    registry.add(Lazy("notify.demo:DemoCustomer"), usage="demo.customer", name="notify")
