{
    "name": "crm_bridge",
    "version": "0.1.0",
    "summary": "Core: addon loader, registry, configuration, canonical model, store, jobs, CLI",
    "depends": [],
    "external_dependencies": {"python": []},
    "data": [],
}
