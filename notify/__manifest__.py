{
    "name": "notify",
    "version": "0.1.0",
    "summary": "Acknowledgements, status changes and SLA alerts by e-mail, SMS, Telegram and webhooks, from templates, through an outbox",
    "depends": ["crm_bridge", "sla"],
    "external_dependencies": {"python": ["babel", "jinja2", "requests"]},
    "data": ["templates/ru/*", "templates/en/*"],
}
