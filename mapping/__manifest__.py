{
    "name": "mapping",
    "version": "0.1.0",
    "summary": "Declarative field mapping between a remote schema and the canonical model",
    "depends": ["crm_bridge"],
    "external_dependencies": {"python": ["yaml"]},
    "data": ["data/synonyms.yaml"],
}
