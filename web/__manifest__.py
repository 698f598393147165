{
    "name": "web",
    "version": "0.1.0",
    "summary": "Web pages: the supervisor dashboard, the customer's cabinet from a signed link, health and metrics",
    "depends": ["crm_bridge", "sla", "routing", "notify", "kpi", "sync"],
    "external_dependencies": {"python": ["fastapi", "uvicorn", "argon2", "jinja2", "babel"]},
    "data": ["templates/*", "static/*"],
}
