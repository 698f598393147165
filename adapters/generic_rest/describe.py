"""What a REST resource's records hold, for ``mapping suggest`` and ``mapping check``.

Two sources, both pure here (the backend reads them):

* **A sample**: records of a first page, flattened as the mappings see them (custom field
  lists as ``cf_<id>``, ``extract`` fields added); each field gets the Edm type of the
  first value that is not empty (a field seen empty only is ``Edm.Untyped``: any value).
* **An OpenAPI document** (``openapi:`` in the connector file): the resource's record
  schema is found from its path's ``200`` answer, following the connector's ``records``
  selector into the envelope (``payload.items`` → ``properties.payload.properties.items.items``),
  ``$ref`` and ``allOf`` included; or named directly with the resource's ``schema:`` (a
  ``components.schemas`` entry). ``maxLength`` becomes the field's length.

Example::

    >>> sample_types([{"id": 7, "title": "A", "due": None}])
    {'id': 'Edm.Int64', 'title': 'Edm.String', 'due': 'Edm.Untyped'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.generic_rest.connector import Resource
from adapters.generic_rest.select import parse_path
from crm_bridge.errors import ConfigError, did_you_mean
from mapping.kinds import value_kind

__all__ = ["UNTYPED", "openapi_types", "sample_types"]

#: a field whose type is not known (seen empty only, or an object): any value fits it
UNTYPED = "Edm.Untyped"
_OF_KIND = {"text": "Edm.String", "int": "Edm.Int64", "number": "Edm.Decimal", "bool": "Edm.Boolean",
            "datetime": "Edm.DateTimeOffset", "list": "Collection(Rows)"}
_OF_FORMAT = {"date-time": "Edm.DateTimeOffset", "date": "Edm.Date", "uuid": "Edm.Guid"}
_OF_TYPE = {"string": "Edm.String", "integer": "Edm.Int64", "number": "Edm.Decimal", "boolean": "Edm.Boolean"}


def sample_types(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Field → Edm type of sample records (first value not empty wins; empty only: untyped)."""
    found: dict[str, str] = {}
    for record in records:
        for name, value in record.items():
            kind = value_kind(value)
            if found.get(name, UNTYPED) == UNTYPED:
                found[name] = _OF_KIND.get(kind, UNTYPED)
    return found


def _resolved(doc: Mapping[str, Any], schema: Any, where: str) -> dict[str, Any]:
    """`schema` with ``$ref`` followed and ``allOf`` parts merged."""
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith("#/") or seen > 20:
            msg = f"{where}: $ref {ref!r} is not a local reference (#/components/schemas/...); inline the schema or name it with schema:"
            raise ConfigError(msg)
        target: Any = doc
        for step in ref[2:].split("/"):
            target = target.get(step.replace("~1", "/").replace("~0", "~")) if isinstance(target, Mapping) else None
        if target is None:
            msg = f"{where}: $ref {ref!r} points at nothing in the OpenAPI document"
            raise ConfigError(msg)
        schema, seen = target, seen + 1
    if not isinstance(schema, Mapping):
        return {}
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in schema["allOf"]:
            merged["properties"].update(_resolved(doc, part, where).get("properties", {}))
        return merged
    return dict(schema)


def _response_schema(doc: Mapping[str, Any], resource: Resource, where: str) -> Any:
    paths: Mapping[str, Any] = doc.get("paths") or {}
    item = paths.get(resource.path) or next(
        (v for p, v in paths.items() if resource.path.endswith(p) or p.endswith(resource.path)), None)
    if not isinstance(item, Mapping):
        msg = (f"{where}: the OpenAPI document has no path {resource.path!r}.{did_you_mean(resource.path, list(paths))} "
               "Name the record's schema with the resource's schema: (a components.schemas entry) instead")
        raise ConfigError(msg)
    operation = item.get(resource.method.lower()) or {}
    answers = operation.get("responses") or {}
    answer = _resolved(doc, answers.get("200") or answers.get(200) or answers.get("default") or {}, where)
    content = answer.get("content") or {}
    body = next((c for t, c in content.items() if "json" in t), None)
    if body is None and "schema" in answer:  # Swagger 2.0
        return answer["schema"]
    if body is None:
        msg = f"{where}: {resource.method} {resource.path} has no JSON 200 answer in the OpenAPI document; name the record's schema with schema:"
        raise ConfigError(msg)
    return body.get("schema")


def _record_schema(doc: Mapping[str, Any], resource: Resource, where: str) -> dict[str, Any]:
    if resource.schema_ is not None:
        schemas = (doc.get("components") or {}).get("schemas") or doc.get("definitions") or {}
        if resource.schema_ not in schemas:
            msg = (f"{where}: the OpenAPI document has no schema {resource.schema_!r}."
                   f"{did_you_mean(resource.schema_, list(schemas))} Schemas: {', '.join(list(schemas)[:20])}")
            raise ConfigError(msg)
        return _resolved(doc, schemas[resource.schema_], where)
    schema = _resolved(doc, _response_schema(doc, resource, where), where)
    for step in parse_path(resource.records):
        if isinstance(step, int) or schema.get("type") == "array":
            schema = _resolved(doc, schema.get("items"), where)
            if isinstance(step, int):
                continue
        schema = _resolved(doc, (schema.get("properties") or {}).get(step), where)
    if schema.get("type") == "array" or "items" in schema:
        schema = _resolved(doc, schema.get("items"), where)
    if not schema.get("properties"):
        msg = (f"{where}: no record schema with properties at {resource.records or '(the body)'!r} of the "
               f"{resource.method} {resource.path} answer; name it with the resource's schema:")
        raise ConfigError(msg)
    return schema


def openapi_types(doc: Mapping[str, Any], resource: Resource, where: str) -> tuple[dict[str, str], dict[str, int]]:
    """(field → Edm type, string field → maxLength) of `resource`'s records by the OpenAPI `doc`.

    Raises:
        ConfigError: the document has no schema for the resource (`where` names the connector's resource).
    """
    types: dict[str, str] = {}
    lengths: dict[str, int] = {}
    for name, prop in (_record_schema(doc, resource, where).get("properties") or {}).items():
        prop = _resolved(doc, prop, where)
        kind = prop.get("type")
        kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
        if kind == "array":
            types[name] = "Collection(Rows)"
        elif kind == "string" and prop.get("format") in _OF_FORMAT:
            types[name] = _OF_FORMAT[prop["format"]]
        else:
            types[name] = _OF_TYPE.get(str(kind), UNTYPED)
        if kind == "string" and isinstance(prop.get("maxLength"), int):
            lengths[name] = prop["maxLength"]
    for name in resource.extract:
        types.setdefault(name, UNTYPED)
    return types, lengths
