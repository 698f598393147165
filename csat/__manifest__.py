{
    "name": "csat",
    "version": "0.1.0",
    "summary": "Satisfaction surveys after resolution: signed rating links, the rating page, write-back, low-rating alerts",
    "depends": ["crm_bridge", "sla", "sync", "notify", "web"],
    "external_dependencies": {"python": ["fastapi", "jinja2"]},
    "data": ["templates/*"],
}
