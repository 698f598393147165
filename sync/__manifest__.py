{
    "name": "sync",
    "version": "0.1.0",
    "summary": "Bindings, checkpoints, incremental import and write-back through an outbox",
    "depends": ["crm_bridge", "mapping"],
    "external_dependencies": {"python": []},
    "data": [],
}
