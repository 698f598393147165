"""Field types of a REST resource, from sample records or an OpenAPI document (pure)."""

from __future__ import annotations

import pytest

from adapters.generic_rest.connector import Resource
from adapters.generic_rest.describe import UNTYPED, openapi_types, sample_types
from crm_bridge.errors import ConfigError

DOC = {
    "openapi": "3.1.0",
    "paths": {"/api/v4/leads": {"get": {"responses": {"200": {"content": {"application/hal+json": {"schema": {
        "type": "object", "properties": {"_embedded": {"type": "object", "properties": {
            "leads": {"type": "array", "items": {"$ref": "#/components/schemas/Lead"}}}}}}}}}}}}},
    "components": {"schemas": {"Lead": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string", "maxLength": 255}, "price": {"type": ["number", "null"]},
        "closed_at": {"type": "string", "format": "date-time"}, "is_deleted": {"type": "boolean"},
        "custom_fields_values": {"type": "array", "items": {"type": "object"}}, "_links": {"type": "object"}}}}},
}


def test_sample_types_take_the_first_value_that_is_not_empty() -> None:
    assert sample_types([{"id": 1, "due": None, "tags": []}, {"id": 2, "due": "2026-12-07", "vip": True}]) == {
        "id": "Edm.Int64", "due": "Edm.String", "tags": "Collection(Rows)", "vip": "Edm.Boolean"}
    assert sample_types([{"note": None}]) == {"note": UNTYPED}


def test_the_record_schema_is_found_through_the_envelope_and_refs() -> None:
    leads = Resource(path="/leads", records="_embedded.leads", extract={"company_id": "_embedded.companies.0.id"})
    types, lengths = openapi_types(DOC, leads, "amocrm.yaml: resources.leads")
    assert types == {"id": "Edm.Int64", "name": "Edm.String", "price": "Edm.Decimal", "closed_at": "Edm.DateTimeOffset",
                     "is_deleted": "Edm.Boolean", "custom_fields_values": "Collection(Rows)", "_links": UNTYPED,
                     "company_id": UNTYPED}
    assert lengths == {"name": 255}
    named = Resource.model_validate({"path": "/nowhere", "schema": "Lead"})
    assert openapi_types(DOC, named, "x")[0]["id"] == "Edm.Int64"


@pytest.mark.parametrize(("resource", "said"), [
    (Resource(path="/contacts"), "has no path '/contacts'"),
    (Resource.model_validate({"path": "/x", "schema": "Led"}), "no schema 'Led'. Did you mean 'Lead'?"),
    (Resource(path="/leads", records="_embedded.contacts"), "no record schema with properties at '_embedded.contacts'"),
])
def test_a_schema_not_found_says_where_and_what_to_write(resource: Resource, said: str) -> None:
    with pytest.raises(ConfigError, match="resources.r: ") as caught:
        openapi_types(DOC, resource, "c.yaml: resources.r")
    assert said in str(caught.value)
