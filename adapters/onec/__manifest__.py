{
    "name": "adapters.onec",
    "version": "0.1.0",
    "summary": "1C:CRM over the standard OData interface and SOAP, with a 1C emulator",
    "depends": ["sync"],
    "external_dependencies": {"python": ["requests"]},
    "data": [],
}
