{
    "name": "sla",
    "version": "0.1.0",
    "summary": "Business calendars, SLA policies, due dates, breaches and the SLA ledger",
    "depends": ["crm_bridge"],
    "external_dependencies": {"python": ["zoneinfo"]},
    "data": ["data/ru-production.json"],
}
