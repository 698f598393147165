{
    "name": "notify",
    "version": "0.1.0",
    "summary": "Acknowledgements, status changes and SLA alerts by e-mail, from templates, through an outbox",
    "depends": ["crm_bridge", "sla"],
    "external_dependencies": {"python": ["babel", "jinja2"]},
    "data": ["templates/ru/*", "templates/en/*"],
}
