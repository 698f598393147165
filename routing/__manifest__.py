{
    "name": "routing",
    "version": "0.1.0",
    "summary": "Assign requests to agents by rules, skills, load, capacity, shifts and leave; act on SLA escalations",
    "depends": ["crm_bridge", "sync", "sla"],
    "external_dependencies": {"python": []},
    "data": [],
}
