{
    "name": "intake",
    "version": "0.1.0",
    "summary": "Requests from e-mail registered in the CRM: customer matching, classification, threading, repeat contacts",
    "depends": ["crm_bridge", "sync", "sla", "notify", "web"],
    "external_dependencies": {"python": ["aiosmtpd", "snowballstemmer", "fastapi"]},
    "data": ["templates/*"],
}
