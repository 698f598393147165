"""``mapping suggest``: a starter mapping from remote metadata, by name, type and synonyms.

Pure: it takes the remote schema (``RemoteSchema.describe()``: entity → field → Edm type,
or one built from a REST sample with ``schema_from_sample``) and, optionally, values seen
in a sample (for value maps); it returns a ``Draft`` that renders as commented YAML, each
line with its confidence (0–1) and why. Synonyms (Russian 1C names and English REST
names) live in ``data/synonyms.yaml``.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from crm_bridge.errors import ConfigError, did_you_mean
from crm_bridge.model import MODELS
from mapping.kinds import CanonicalField, canonical_fields, edm_kind, value_kind
from mapping.validate import REF_TARGETS, entity_sets

__all__ = ["Draft", "Suggestion", "schema_from_sample", "suggest"]

_EDM_OF_KIND = {"text": "Edm.String", "guid": "Edm.Guid", "int": "Edm.Int64", "number": "Edm.Decimal",
                "bool": "Edm.Boolean", "datetime": "Edm.DateTime", "list": "Collection(Rows)", "object": "Edm.String"}
_ISO = re.compile(r"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d)?)?")
_TECHNICAL = {"Predefined", "PredefinedDataName", "IsFolder", "Parent_Key", "Posted", "LineNumber"}


@functools.cache
def _synonyms() -> dict[str, Any]:
    text = resources.files("mapping").joinpath("data/synonyms.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-zа-яё]", "", name.lower())


def _name_score(remote: str, names: Sequence[str]) -> tuple[float, str]:
    """(score, why) of `remote` against synonyms in order of likelihood."""
    target = _norm(remote)
    best, why = 0.0, ""
    for i, name in enumerate(names):
        syn = _norm(name)
        if not syn:
            continue
        if syn == target:
            score, reason = 0.95 - 0.01 * min(i, 5), f"name {name!r}"
        elif min(len(syn), len(target)) >= max(4, max(len(syn), len(target)) // 2) and (syn in target or target in syn):
            score, reason = 0.7 - 0.01 * min(i, 5), f"name contains {name!r}"
        else:
            ratio = difflib.SequenceMatcher(None, syn, target).ratio()
            score, reason = (0.4 + (ratio - 0.8) * 1.5, f"name like {name!r}") if ratio >= 0.8 else (0.0, "")
        if score > best:
            best, why = score, reason
    return best, why


@dataclass(frozen=True)
class Suggestion:
    """One canonical field: its proposed YAML (``None``: no candidate), confidence and why."""

    field: str
    spec: dict[str, Any] | None
    confidence: float
    reason: str
    required: bool = False


@dataclass
class Draft:
    model: str
    entity: str | None
    entity_confidence: float
    entity_reason: str
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    record: dict[str, str] = field(default_factory=dict)  # key, version, deleted, changed_at
    timezone: str | None = None
    fields: list[Suggestion] = field(default_factory=list)
    exclude: list[dict[str, Any]] = field(default_factory=list)  # records that are not the model's

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "entity": self.entity, "confidence": round(self.entity_confidence, 2),
                "alternatives": [{"entity": e, "confidence": round(c, 2)} for e, c in self.alternatives],
                **self.record, "timezone": self.timezone, "exclude": self.exclude,
                "fields": [{"field": s.field, "mapping": s.spec, "confidence": round(s.confidence, 2), "why": s.reason}
                           for s in self.fields]}

    def to_yaml(self, header: Sequence[str] = ()) -> str:
        """Commented YAML: accepted lines active, weak or missing ones commented out."""
        lines = [f"# {h}" if h else "#" for h in header]
        if self.alternatives:
            lines.append("# Other candidate entity sets: " + ", ".join(f"{e} ({c:.2f})" for e, c in self.alternatives))
        lines.append(f"model: {self.model}")
        lines.append(_commented(f"entity: {_scalar(self.entity or '<entity set>')}", self.entity_confidence, self.entity_reason))
        lines += [f"{k}: {_scalar(v)}" for k, v in self.record.items()]
        if self.exclude:
            lines.append("exclude:  # records that are not " + self.model + "s (a service user): not imported")
            lines += [f"  - {_flow(entry)}" for entry in self.exclude]
        if self.timezone:
            lines.append(f"timezone: {self.timezone}  # naive dates are read in this zone")
        lines.append("fields:")
        for s in self.fields:
            if s.spec is None:
                need = "required: find its remote field" if s.required else "no candidate found"
                lines.append(f"  # {s.field}: {{from: ...}}  # {need}")
                continue
            line = f"  {s.field}: {_flow(s.spec)}"
            if s.confidence < 0.5 and not s.required:
                lines.append("  # " + _commented(line.strip(), s.confidence, s.reason + "; low confidence, check it"))
            else:
                lines.append(_commented(line, s.confidence, s.reason))
        return "\n".join(lines) + "\n"


def _commented(line: str, confidence: float, why: str) -> str:
    return f"{line.ljust(58)}  # {confidence:.2f} {why}"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    plain = re.fullmatch(r"[^\W\d][\w .\-]*", text) and not text.endswith(" ")
    reserved = text.lower() in ("true", "false", "yes", "no", "on", "off", "null", "y", "n")
    return text if plain and not reserved else json.dumps(text, ensure_ascii=False)


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _key(key: Any) -> str:
    return _scalar(key) if not isinstance(key, bool) else ("true" if key else "false")


def schema_from_sample(entity: str, records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """A schema for `suggest` from sample records of a REST CRM (Edm types guessed from values)."""
    types: dict[str, str] = {}
    for record in records:
        for name, value in record.items():
            kind = value_kind(value)
            if kind != "any" and name not in types:
                types[name] = _EDM_OF_KIND.get(kind, "Edm.String")
    return {entity: types}


def _rank_entities(model: str, schema: Mapping[str, Mapping[str, str]]) -> list[tuple[str, float, str]]:
    names = _synonyms()["models"].get(model, {}).get("entities", [])
    sets = entity_sets(schema)
    tabular = {s for s in sets if any(s.startswith(o + "_") for o in sets if o != s)}
    ranked = []
    for entity in sets:
        if entity in tabular:
            continue
        base = entity.split("_", 1)[1] if "_" in entity and entity.split("_", 1)[0] in (
            "Catalog", "Document", "InformationRegister", "ChartOfCharacteristicTypes", "BusinessProcess", "Task") else entity
        base = base.rsplit(".", 1)[-1]  # a web service's items: <Service>.<item>
        score, why = _name_score(base, [model, f"{model}s", *names])
        if score > 0:
            ranked.append((entity, score, why))
    return sorted(ranked, key=lambda r: -r[1])


def _fits(target: CanonicalField, kind: str, ref: str | None) -> bool:
    if kind == "any" or target.kind == "any":
        return True
    if ref is not None:
        return kind in ("guid", "text", "int")
    allowed = {"text": {"text"}, "enum": {"text", "guid"}, "int": {"int", "number", "text"},
               "bool": {"bool"}, "datetime": {"datetime", "text"}}
    return kind in allowed.get(target.kind, {kind})


def _field_spec(name: str, target: CanonicalField, remote: str, edm: str, hints: Mapping[str, Any],
                schema: Mapping[str, Mapping[str, str]], values: Sequence[Any], zone_needed: list[bool]) -> tuple[dict[str, Any], str]:
    kind = edm_kind(edm)
    spec: dict[str, Any] = {"from": remote}
    notes: list[str] = []
    ref = hints.get("ref") or (REF_TARGETS.get(name) if target.kind == "int" else None)
    if ref:
        spec["ref"] = ref
    elif target.kind == "datetime" and kind == "text":
        spec["transform"] = ["date"]
        zone_needed.append(True)
        notes.append("text dates parsed")
    elif target.kind == "int" and kind == "text":
        spec["transform"] = ["number"]
    elif hints.get("transform") and kind in ("text", "any"):
        spec["transform"] = list(hints["transform"])
    if target.kind == "bool" and remote in hints.get("inverted", ()):
        spec["map"] = {True: False, False: True}
        notes.append("inverted yes/no")
    if target.kind == "enum":
        if kind == "guid":
            spec["lookup"] = {"entity": _lookup_entity(remote, schema), "field": "Description"}
            notes.append("a reference: its name is looked up")
        default = hints.get("default") or _default(name, target)
        spec["map"], how = _value_map(name, target, values, _fallback(name, target, default))
        notes.append(how)
        spec["default"] = default
    if hints.get("owner"):
        spec["owner"] = hints["owner"]
    return spec, "; ".join(notes)


def _lookup_entity(remote: str, schema: Mapping[str, Mapping[str, str]]) -> str:
    stem = _norm(remote.removesuffix("_Key"))[:7]
    for entity in entity_sets(schema):
        if stem and stem in _norm(entity):
            return entity
    return "<catalog of " + remote.removesuffix("_Key") + ">"


def _value_map(name: str, target: CanonicalField, values: Sequence[Any], fallback: str) -> tuple[dict[Any, str], str]:
    """A value map from the sample's `values`, or from the usual 1C names when there is none.

    Every distinct value seen gets an entry, so ``mapping check`` on the same sample finds
    no gap: a value named like a canonical one maps to it, any other (a state this base
    added, an empty enum ``""``) to `fallback`, and the note names those for review. A
    ``keep`` default would pass them through as they are, and the model refuses them.
    Values the sample did not show still get their usual 1C spelling.
    """
    spellings: dict[str, list[str]] = _synonyms()["values"].get(name, {})
    usual = {names[0]: choice for choice, names in spellings.items() if names and choice in target.choices}
    seen = list(dict.fromkeys(v for v in values if isinstance(v, str | int | float | bool) or v is None))
    if not seen:
        return usual, "map from usual 1C names: compare with your values"
    table: dict[Any, str] = {}
    guessed: list[Any] = []
    for value in seen:
        if value is None and target.nullable:
            continue  # an empty value is stored as none
        text = "" if value is None else str(value)
        choice = next((c for c, names in spellings.items() if c in target.choices and text
                       and _name_score(text, names)[0] >= 0.69), None)
        if choice is None:
            guessed.append(value)
        table[value] = choice or fallback
    for key, choice in usual.items():
        if choice not in table.values():
            table.setdefault(key, choice)
    how = f"map from {len(seen)} value{'s' if len(seen) != 1 else ''} seen in the sample and usual 1C names"
    if guessed:
        shown = ", ".join("(empty)" if v in (None, "") else str(v) for v in guessed[:5]) + (", ..." if len(guessed) > 5 else "")
        how += f"; {len(guessed)} not recognised ({shown}) map to {fallback}: check them"
    return table, how


def _fallback(name: str, target: CanonicalField, default: str) -> str:
    """Where a value seen but not recognised goes: the field's default value, else the model's."""
    if default in target.choices:
        return default
    model_default = _default(name, target)
    return model_default if model_default in target.choices else target.choices[0]


def _default(name: str, target: CanonicalField) -> str:
    from crm_bridge.model import MODELS

    for model in MODELS.values():
        info = model.model_fields.get(name)
        if info is not None and info.default is not None and str(getattr(info.default, "value", info.default)) in target.choices:
            return str(getattr(info.default, "value", info.default))
    return "keep"


def suggest(model: str, schema: Mapping[str, Mapping[str, str]], *, entity: str | None = None,
            values: Mapping[str, Sequence[Any]] | None = None, timezone: str | None = None,
            mapped: Collection[str] | None = None) -> Draft:
    """A starter mapping of canonical `model` over the best-matching entity of `schema`.

    Args:
        model: canonical model (customer, contact, agent, team, ticket).
        schema: entity → field → Edm type.
        entity: use this entity set instead of ranking them.
        values: remote field → values seen in a sample (better value maps).
        timezone: the backend's zone, written when text dates need one.
        mapped: the models the backend maps; a reference to another one is commented out.
    """
    if model not in MODELS:
        raise ConfigError(f"no canonical model {model!r}.{did_you_mean(model, list(MODELS))} Models: {', '.join(MODELS)}")
    if entity is not None and schema and entity not in schema:
        raise ConfigError(f"the backend publishes no {entity!r}.{did_you_mean(entity, list(schema))} "
                          "See what it offers with crm-bridge onec inspect (1C) or leave --entity out")
    ranked = _rank_entities(model, schema)
    if entity is not None:
        chosen, confidence, why = entity, 1.0, "given with --entity"
    elif ranked:
        chosen, confidence, why = ranked[0]
    else:
        chosen, confidence, why = None, 0.0, f"no entity set looks like a {model}; name one with --entity"
    draft = Draft(model, chosen, confidence, why, [(e, c) for e, c, _ in ranked if e != chosen][:3])
    types = dict(schema.get(chosen, {})) if chosen else {}
    used: set[str] = set()
    for attr, names in _synonyms()["record"].items():
        scored = sorted(((_name_score(r, names)[0], r) for r in types), key=lambda c: -c[0])
        score, found = scored[0] if scored else (0.0, "")
        if score >= 0.9 and found not in used:
            draft.record[attr] = found
            used.add(found)
    hints_of: dict[str, Any] = _synonyms()["models"].get(model, {}).get("fields", {})
    canonical = canonical_fields(model)
    candidates = []
    for name, target in canonical.items():
        if name == "deleted":
            continue
        hints = hints_of.get(name, {})
        for remote, edm in types.items():
            if remote in used or remote in _TECHNICAL or remote.endswith("_Type") or edm_kind(edm) == "list":
                continue
            score, reason = _name_score(remote, [name, *hints.get("names", [])])
            if score and not _fits(target, edm_kind(edm), hints.get("ref") or REF_TARGETS.get(name)):
                score, reason = score * 0.4, reason + f", but {edm} does not fit"
            if score >= 0.3:
                candidates.append((score, name, remote, reason))
    chosen_for: dict[str, tuple[float, str, str]] = {}
    for score, name, remote, reason in sorted(candidates, key=lambda c: -c[0]):
        if name not in chosen_for and remote not in used:
            chosen_for[name] = (score, remote, reason)
            used.add(remote)
    zone_needed: list[bool] = []
    for name, target in canonical.items():
        if name == "deleted":
            continue
        if name not in chosen_for:
            draft.fields.append(Suggestion(name, None, 0.0, "", target.required))
            continue
        score, remote, reason = chosen_for[name]
        spec, note = _field_spec(name, target, remote, types[remote], hints_of.get(name, {}), schema,
                                 list((values or {}).get(remote, ())), zone_needed)
        why = f"{reason} ({types[remote]})" + (f"; {note}" if note else "")
        if mapped is not None and spec.get("ref") and spec["ref"] not in mapped:
            score, why = min(score, 0.3), f"{why}; {spec['ref']} is not among this backend's models"
        draft.fields.append(Suggestion(name, spec, score, why, target.required))
    if zone_needed:
        draft.timezone = timezone or "Europe/Moscow"
    draft.exclude = [e for e in _synonyms()["models"].get(model, {}).get("exclude", []) if all(f in types for f in e)]
    return draft
