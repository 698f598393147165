{
    "name": "kpi",
    "version": "0.1.0",
    "summary": "Support KPIs computed in SQL on the store: volume, response and resolution times, SLA compliance, backlog, reopens, repeat contacts, CSAT, cost",
    "depends": ["crm_bridge", "sla"],
    "external_dependencies": {"python": ["openpyxl"]},
    "data": [],
}
