"""Intake addon: inbound e-mail registered as requests in the CRM, once each.

Channels store every message durably first (``intake.inbox``: the SMTP receiver
``intake.receiver`` answers 250 after the commit, the IMAP poller ``intake.imap`` marks a
message after it); the job ``intake.process`` decides each stored message (threading,
customer matching, classification, repeat contacts; ``intake.process``), the sync
outbox creates the request in the CRM bind-first, and ``intake.confirm`` reads the CRM's
number back before the request is announced (so the acknowledgement shows it). Example::

    stored = store_message(app.store, raw, via="smtp")
    app.run_job("intake.process")     # {"registered": 1}
    app.run_job("sync.dispatch")      # created in 1C
    app.run_job("intake.confirm")     # {"confirmed": 1}: the ticket's number is CRM-0000301
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_bridge.registry import Lazy, lazy_exports

if TYPE_CHECKING:
    from crm_bridge.registry import Registry
    from intake.inbox import Stored, store_message
    from intake.settings import IntakeConfig

__all__ = ["IntakeConfig", "Stored", "register", "store_message"]
__getattr__ = lazy_exports(__name__, {"IntakeConfig": "intake.settings", "Stored": "intake.inbox",
                                      "store_message": "intake.inbox"})


def register(registry: Registry) -> None:
    """Register the config section ``intake``, the jobs ``intake.fetch``, ``intake.process``
    and ``intake.confirm``, the SMTP receiver ``crm-bridge run`` starts, the status
    section, the web form and JSON API (``web.router``: web imports nothing of intake), the
    demo's part (``demo.config``, ``demo.intake``) and the ``intake`` commands, each by name (``Lazy``)."""
    registry.add(Lazy("intake.settings:IntakeConfig"), usage="config.section", name="intake")
    registry.add(Lazy("intake.imap:intake_fetch"), usage="job", name="intake.fetch")
    registry.add(Lazy("intake.process:intake_process"), usage="job", name="intake.process")
    registry.add(Lazy("intake.confirm:intake_confirm"), usage="job", name="intake.confirm")
    registry.add(Lazy("intake.status:intake_status"), usage="status.section", name="intake")
    registry.add(Lazy("intake.watch:intake_service"), usage="run.service", name="intake.smtp")
    registry.add(Lazy("intake.web:mount"), usage="web.router", name="intake")  # /request and /api/intake/...
    registry.add(Lazy("intake.form:check_pages"), usage="check.app", name="intake form")
    # what `crm-bridge demo` runs of intake (the demo finds them by registration: it imports no intake)
    registry.add(Lazy("intake.demo:demo_config"), usage="demo.config", name="intake")
    registry.add(Lazy("intake.demo:DemoIntake"), usage="demo.intake", name="intake")
    registry.add(Lazy("intake.cli:intake_app", summary="Inbound mail: review who wrote, explain a decision, the log."),
                 usage="cli.group", name="intake")
