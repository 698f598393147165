{
    "name": "adapters.generic_rest",
    "version": "0.1.0",
    "summary": "Any REST CRM from a declarative connector file (the rest backend kind)",
    "depends": ["sync"],
    "external_dependencies": {"python": ["requests"]},
    "data": [],
}
