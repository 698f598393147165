"""``mapping check``: every mistake in a mapping file, each with file:line:column, the
field, what is valid and how to fix it — all of them at once.

What is checked depends on what is known:

* always: canonical model and fields, transform names and arguments, value maps against
  the canonical values (enums), required fields, ownership (what can be written back),
  references to canonical models;
* with remote metadata (``RemoteSchema.describe()``, 1C ``$metadata``): entity set and
  source fields exist, their types fit the transforms and the canonical field;
* with the remote fields' lengths (1C ``MaxLength``, where published): a written value
  that 1C would cut (``mapping.lengths``; a free text is a warning, not a problem);
* with a sample of remote records (or instead of metadata, for REST): unknown fields,
  value-map gaps (a value seen in the sample that no entry covers), values a transform or
  the canonical model refuses;
* with the other mappings of the backend (``siblings``): referenced models are mapped,
  references form no cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from crm_bridge.errors import ConfigError, did_you_mean
from crm_bridge.model import MODELS
from crm_bridge.yamlfile import Path_
from mapping.facts import (
    REF_TARGETS,
    Problem,
    RemoteFacts,
    close_names,
    edm_word,
    entity_sets,
    known_zone,
)
from mapping.kinds import (
    CanonicalField,
    accepts,
    canonical_fields,
    describe_kind,
    edm_kind,
    fix_hint,
    value_kind,
)
from mapping.lengths import WARNING, length_problems
from mapping.sample import sample_problems
from mapping.spec import ChildSpec, FieldSpec, MappingFile, MappingSpec
from mapping.transforms import Transform, library, step_parts

__all__ = ["REF_TARGETS", "Problem", "RemoteFacts", "check_mapping", "check_offline", "close_names", "entity_sets"]

class _Checker:
    def __init__(self, mf: MappingFile, facts: RemoteFacts, extra: Mapping[str, Transform] | None, siblings: Mapping[str, MappingSpec] | None) -> None:
        assert mf.spec is not None
        self.doc, self.spec, self.facts, self.siblings = mf.doc, mf.spec, facts, siblings
        self.extra, self.lib = extra, library(extra)
        self.problems: list[Problem] = []
        self.canonical = canonical_fields(self.spec.model)

    def add(self, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.doc.where(path), ".".join(str(p) for p in path), message))

    def check_decided(self, decided: frozenset[str]) -> None:
        """A field owned ``local`` that no installed addon decides is never written to the
        remote, and its remote value is never imported either: say so where it is."""
        for name, fs in self.spec.fields.items():
            if fs.owner == "local" and fs.source and name not in decided:
                by = f" (decided here: {', '.join(sorted(decided))})" if decided else ""
                self.add(("fields", name, "owner"),
                         f"{self.spec.model}.{name} is owned here (owner: local), but no installed addon decides it, "
                         f"so crm-bridge never writes it to {fs.source} and never reads it either{by}; make it "
                         "owner: remote to import it, or install the addon that decides it")

    # --- the remote side ---------------------------------------------------------------

    def remote_types(self) -> dict[str, str] | None:
        """Field -> Edm type (or a kind from the sample) of the mapped entity; None if unknown."""
        if self.facts.entities is not None:
            found = self.facts.entities.get(self.spec.entity)
            return dict(found) if found is not None else None
        if self.facts.sample:
            types: dict[str, str] = {}
            for record in self.facts.sample:
                for k, v in record.items():
                    if types.get(k, "any") == "any":
                        types[k] = value_kind(v)
            return types
        return None

    def check_entity(self) -> dict[str, str] | None:
        types = self.remote_types()
        if self.facts.entities is not None and types is None:
            known = entity_sets(self.facts.entities)
            self.add(("entity",), f"{self.facts.origin} has no entity set {self.spec.entity!r}."
                     f"{did_you_mean(self.spec.entity, known)} Close names: {close_names(self.spec.entity, known)}. "
                     "Publish it in 1C (Настройка стандартного интерфейса OData) or fix the name")
        if types is None:
            return None
        expected = {"key": None, "version": None, "deleted": "bool", "changed_at": "datetime", "changed_by": None,
                    "correlation": None}
        for attr, kind in expected.items():
            name = getattr(self.spec, attr)
            if name and self.known_source((attr,), name, types) and kind and edm_kind(types[name]) not in (kind, "any") and types[name] != kind:
                self.add((attr,), f"{name} is {edm_word(types[name])}, but {attr} needs {describe_kind(kind)}")
        return types

    def known_source(self, path: Path_, name: str, types: Mapping[str, str], entity: str | None = None) -> bool:
        if name in types:
            return True
        where = entity or self.spec.entity
        field = self.spec.fields.get(str(path[1])) if len(path) > 1 and path[0] == "fields" else None
        if self.facts.entities is None and field is not None and field.owner == "local":
            # a sample cannot prove it missing: a REST CRM leaves an empty field out, and this one is written here
            self.add(path, f"{WARNING}{name!r} is in none of the {len(self.facts.sample or [])} sample records of {where} "
                     f"(crm-bridge writes it: a CRM may leave it out while it is empty).{did_you_mean(name, list(types))} "
                     "Check the name once a record holds it")
            return False
        self.add(path, f"{where} has no field {name!r}.{did_you_mean(name, list(types))} "
                 f"Close names: {close_names(name, list(types))}. Run `crm-bridge mapping suggest` to list them all")
        return False

    # --- one field ----------------------------------------------------------------------

    def check_field(self, path: Path_, name: str, fs: FieldSpec, canonical: Mapping[str, CanonicalField] | None,
                    types: Mapping[str, str] | None, entity: str, model: str) -> None:
        target = canonical.get(name) if canonical is not None else None
        if canonical is not None and target is None:
            self.add(path, f"{model} has no field {name!r}.{did_you_mean(name, list(canonical))} "
                     f"Fields of {model}: {', '.join(canonical)}")
        kind, described = self.source_kind(path, fs, types, entity)
        kind = self.check_steps(path, fs, kind, described)
        kinds = self.check_map(path, fs, kind, target, model, name)
        if fs.ref is not None:
            self.check_ref(path, fs, name, kind, described, target)
            kinds = {"int"}
        if target is not None:
            bad = [k for k in sorted(kinds) if not accepts(target, k)]
            if bad:
                self.add(path, f"type mismatch: {described} gives {describe_kind(bad[0])}, but {model}.{name} takes "
                         f"{describe_kind(target.kind)}; {fix_hint(bad[0], target)}")
        if fs.owner != "remote" or fs.only_create:
            self.check_owner(path, fs)

    def source_kind(self, path: Path_, fs: FieldSpec, types: Mapping[str, str] | None, entity: str) -> tuple[str, str]:
        inputs = fs.inputs
        if not inputs:
            first = step_parts(fs.transform[0])[0] if fs.transform else None
            if first != "const":
                self.add(path, "no `from:`; name the remote field (`from: Description`) or give a constant "
                         "(`transform: [{const: phone}]`)")
            return "any", "the constant"
        if types is None:
            return ("object" if len(inputs) > 1 else "any"), ", ".join(inputs)
        kinds = []
        for i, source in enumerate(inputs):
            where: Path_ = (*path, "from", i) if fs.sources else (*path, "from")
            kinds.append(edm_kind(types[source]) if self.known_source(where, source, types, entity) else "any")
        if len(inputs) > 1:
            return "object", f"{', '.join(inputs)}"
        kind, described = kinds[0], f"{inputs[0]} ({edm_word(types.get(inputs[0], 'any'))})"
        if fs.lookup is not None:
            kind, described = self.check_lookup(path, fs, kind, described)
        return kind, described

    def check_lookup(self, path: Path_, fs: FieldSpec, kind: str, described: str) -> tuple[str, str]:
        assert fs.lookup is not None
        if kind not in ("guid", "any"):
            self.add((*path, "lookup"), f"lookup reads a referenced record, but {described} is not a reference key")
        entities = self.facts.entities
        if entities is None:
            return "any", described
        table = entities.get(fs.lookup.entity)
        if table is None:
            known = entity_sets(entities)
            self.add((*path, "lookup", "entity"), f"{self.facts.origin} has no entity set {fs.lookup.entity!r}."
                     f"{did_you_mean(fs.lookup.entity, known)} Close names: {close_names(fs.lookup.entity, known)}")
            return "any", described
        if not self.known_source((*path, "lookup", "field"), fs.lookup.field, table, fs.lookup.entity):
            return "any", described
        points_to = self.points_to(fs)
        if points_to is not None and points_to != fs.lookup.entity:
            self.add((*path, "lookup", "entity"), f"{fs.source} points to {points_to} ({self.facts.origin}), not "
                     f"{fs.lookup.entity}: the lookup would find nothing; write `entity: {points_to}`")
        return edm_kind(table[fs.lookup.field]), f"{fs.lookup.entity}.{fs.lookup.field} ({table[fs.lookup.field]})"

    def check_steps(self, path: Path_, fs: FieldSpec, kind: str, described: str) -> str:
        for i, step in enumerate(fs.transform):
            where: Path_ = (*path, "transform", i)
            name, arg = step_parts(step)
            found = self.lib.get(name)
            if found is None:
                self.add(where, f"unknown transform {name!r}.{did_you_mean(name, list(self.lib))} "
                         f"Known: {', '.join(sorted(self.lib))}")
                kind = "any"
                continue
            if found.needs_arg and arg is None:
                self.add(where, f"{name} needs an argument, e.g. `{{{name}: ...}}`: {found.summary}")
            if found.accepts is not None and kind not in found.accepts:
                self.add(where, f"type mismatch: {name} takes {' or '.join(describe_kind(k) for k in sorted(found.accepts) if k != 'any')}, "
                         f"but {described} is {describe_kind(kind)}; remove it or convert first")
            if name == "date" and kind != "datetime":
                self.check_date(where, arg)
            if name == "row" and arg is not None:
                try:
                    found.make(arg, None)
                except ConfigError as exc:
                    self.add(where, str(exc))
            if name == "template" and isinstance(arg, str):
                names = set(fs.inputs) | {"value"}
                for placeholder in re.findall(r"{([^{}:!]+)", arg):
                    if placeholder not in names:
                        self.add(where, f"template names {{{placeholder}}}, which is not a source."
                                 f"{did_you_mean(placeholder, sorted(names))} Sources: {', '.join(sorted(names))}")
            kind = (value_kind(arg) if found.returns == "any" else found.returns) or kind
        return kind

    def check_date(self, where: Path_, arg: Any) -> None:
        fmt = arg.get("format") if isinstance(arg, Mapping) else arg
        tz = arg.get("tz") if isinstance(arg, Mapping) else None
        if not tz and not self.spec.timezone and "%z" not in str(fmt or ""):
            self.add(where, "date needs the time zone of naive dates: add `timezone: Europe/Moscow` (the "
                     "backend's zone) at the top of the mapping, or `{date: {tz: Europe/Moscow}}`")

    def check_map(self, path: Path_, fs: FieldSpec, kind: str, target: CanonicalField | None, model: str, name: str) -> set[str]:
        if fs.map is None and fs.regex is None:
            if fs.default != "keep":
                self.add((*path, "default"), "default applies to value maps; add `map:` or remove `default:`")
            return {kind}
        for pattern in fs.regex or {}:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.add((*path, "regex", pattern), f"not a regular expression: {exc}; escape special characters with \\")
        values: list[tuple[Path_, Any]] = [((*path, "map", k), v) for k, v in (fs.map or {}).items()]
        values += [((*path, "regex", k), v) for k, v in (fs.regex or {}).items()]
        kinds = {value_kind(v) for _, v in values if v is not None}
        if fs.default == "keep":
            kinds.add(kind)
        elif fs.default != "ignore":
            values.append(((*path, "default"), fs.default))
            kinds.add(value_kind(fs.default))
        if target is not None and target.kind == "enum":
            for where, value in values:
                if value is not None and str(value) not in target.choices:
                    self.add(where, f"{value!r} is not a {model}.{name} value.{did_you_mean(str(value), target.choices)} "
                             f"Valid: {', '.join(target.choices)}")
        return kinds or {"any"}

    def points_to(self, fs: FieldSpec) -> str | None:
        """The entity set the field's one remote reference points to, when the remote says."""
        tables = self.facts.references or {}
        return tables.get(self.spec.entity, {}).get(fs.source) if len(fs.inputs) == 1 else None

    def check_ref(self, path: Path_, fs: FieldSpec, name: str, kind: str, described: str, target: CanonicalField | None) -> None:
        ref = fs.ref or ""
        where: Path_ = (*path, "ref")
        if ref not in MODELS:
            self.add(where, f"no canonical model {ref!r}.{did_you_mean(ref, list(MODELS))} Models: {', '.join(MODELS)}")
        elif name in REF_TARGETS and REF_TARGETS[name] != ref and target is not None:
            self.add(where, f"{name} holds {REF_TARGETS[name]} records, not {ref}; write `ref: {REF_TARGETS[name]}`")
        elif self.siblings is not None and ref not in self.siblings:
            self.add(where, f"this backend maps no {ref} (no {ref}.yaml beside this file), so the key cannot be "
                     f"resolved; add {ref}.yaml or remove `ref:`")
        elif self.siblings is not None and (points_to := self.points_to(fs)) is not None \
                and points_to != self.siblings[ref].entity:
            self.add(where, f"{fs.source} points to {points_to} ({self.facts.origin}), but {ref}.yaml maps "
                     f"{self.siblings[ref].entity}: its keys would resolve to no {ref}; map the field that points to "
                     f"{self.siblings[ref].entity}, or map {ref} from {points_to}")
        if kind not in ("guid", "text", "int", "any"):
            self.add(where, f"type mismatch: a reference needs a remote key, but {described} is {describe_kind(kind)}")
        if target is not None and target.kind != "int":
            self.add(where, f"{name} takes {describe_kind(target.kind)}, not a reference; remove `ref:` or map a *_id field")

    def check_owner(self, path: Path_, fs: FieldSpec) -> None:
        if fs.only_create and fs.owner == "local":
            self.add((*path, "only_create"), "only_create applies to imported fields, and an `owner: local` field is "
                     "never imported; remove one of them")
        if fs.owner == "remote":
            return
        why = "crm-bridge writes it back"
        if len(fs.inputs) != 1:
            self.add((*path, "owner"), f"{why}, but it has no single remote field to write; use `owner: remote`")
        # a looked-up value (a state's name) is written back as the key of the record holding
        # it: the 1C adapter's ``_unlookup`` finds it, or refuses the write naming the known ones
        for i, step in enumerate(fs.transform):
            found = self.lib.get(step_parts(step)[0])
            if found is not None and found.undo is None:
                self.add((*path, "transform", i), f"{found.name} cannot be undone, but {why}; use `owner: remote` "
                         "or a transform that can be reversed")
        seen: dict[Any, str] = {}
        for remote, value in (fs.map or {}).items():
            if value in seen and value not in (fs.reverse or {}) and str(value) not in (fs.reverse or {}):
                self.add((*path, "map", remote), f"{seen[value]!r} and {remote!r} both map to {value!r}, and {why}: "
                         f"say which one to send with `reverse: {{{value}: {seen[value]}}}`")
            seen.setdefault(value, remote)
        for pattern, value in (fs.regex or {}).items():
            if value not in seen and str(value) not in (fs.reverse or {}):
                self.add((*path, "regex", pattern), f"{value!r} comes from a pattern, and {why}: say which remote "
                         f"value to send with `reverse: {{{value}: ...}}`")

    # --- the whole file -----------------------------------------------------------------

    def check_children(self, types: Mapping[str, str] | None) -> None:
        for cname, child in self.spec.children.items():
            path: Path_ = ("children", cname)
            field = self.canonical.get(cname)
            if self.canonical and (field is None or field.kind != "any"):
                lists = [n for n, f in self.canonical.items() if f.kind == "any"]
                self.add(path, f"a child is stored in the list field of {self.spec.model} it is named after; "
                         f"{self.spec.model} has no list field {cname!r}.{did_you_mean(cname, lists)} "
                         f"List fields: {', '.join(lists) or 'none'}; rename the child after one (a new one needs a field on the model)")
            rows = self.row_types(path, child, types)
            canonical = None
            if child.model is not None:
                if child.model not in MODELS:
                    self.add((*path, "model"), f"no canonical model {child.model!r}.{did_you_mean(child.model, list(MODELS))} "
                             f"Models: {', '.join(MODELS)}")
                else:
                    canonical = canonical_fields(child.model)
            for i, key in enumerate(child.key):
                if key not in child.fields:
                    self.add((*path, "key", i) if len(child.key) > 1 else (*path, "key"),
                             f"the match key {key!r} is not a field of the rows.{did_you_mean(key, list(child.fields))} "
                             f"Fields: {', '.join(child.fields)}")
            for name, fs in child.fields.items():
                fpath: Path_ = (*path, "fields", name)
                if fs.owner != "remote":
                    self.add((*fpath, "owner"), "a row field has no owner of its own; set `owner:` on the child "
                             f"({cname}), which is imported and written back whole")
                if child.owner != "remote" and len(fs.inputs) != 1:
                    self.add((*fpath, "from"), f"the child is written back (owner {child.owner}): each row field "
                             "needs one remote field to go back to")
                self.check_field(fpath, name, fs, canonical, rows, f"{self.spec.entity}.{child.source}", child.model or cname)

    def row_types(self, path: Path_, child: ChildSpec, types: Mapping[str, str] | None) -> dict[str, str] | None:
        if types is None or not self.known_source((*path, "from"), child.source, types):
            return None
        edm = types[child.source]
        if edm_kind(edm) not in ("list", "any"):
            self.add((*path, "from"), f"{child.source} is {edm_word(edm)}, not a list of rows (tabular section)")
            return None
        if self.facts.entities is not None:
            row_type = edm.removeprefix("Collection(").removesuffix(")").rsplit(".", 1)[-1]
            found = self.facts.entities.get(row_type) or self.facts.entities.get(f"{self.spec.entity}_{child.source}")
            return dict(found) if found is not None else None
        rows = [r for rec in self.facts.sample or () for r in (rec.get(child.source) or ()) if isinstance(r, Mapping)]
        return {k: value_kind(v) for r in rows for k, v in r.items()} if rows else None

    def check_required(self) -> None:
        for name, f in self.canonical.items():
            fs = self.spec.fields.get(name)
            if f.required and (fs is None or fs.owner == "local"):
                self.add(("fields",), f"{self.spec.model}.{name} is required (every {self.spec.model} has one) and is "
                         f"not imported; add `{name}: {{from: <remote field>}}`")

    def check_targets(self) -> None:
        written: dict[str, str] = {}
        for name, fs in self.spec.fields.items():
            if fs.owner != "remote" and fs.source:
                if fs.source in written:
                    self.add(("fields", name, "from"), f"{written[fs.source]} already writes {fs.source}; two fields "
                             "cannot write one remote field, make one of them `owner: remote`")
                written.setdefault(fs.source, name)

    def check_cycles(self) -> None:
        if self.siblings is None:
            return
        graph = {m: s.references() - {m} for m, s in self.siblings.items()}
        graph[self.spec.model] = self.spec.references() - {self.spec.model}
        start = self.spec.model

        def path_back(node: str, seen: list[str]) -> list[str] | None:
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    return [*seen, nxt]
                if nxt not in seen:
                    found = path_back(nxt, [*seen, nxt])
                    if found:
                        return found
            return None

        for first in sorted(graph[start]):
            cycle = [start, first] if first == start else path_back(first, [start, first])
            if not cycle:
                continue
            for where in self.ref_paths(first):
                self.add(where, f"reference cycle {' → '.join(cycle)}: each record would have to be imported before "
                         "the other. Drop one of the references or make it `owner: local`")

    def ref_paths(self, model: str) -> list[Path_]:
        found: list[Path_] = [("fields", n, "ref") for n, f in self.spec.fields.items() if f.ref == model]
        for cname, child in self.spec.children.items():
            found += [("children", cname, "fields", n, "ref") for n, f in child.fields.items() if f.ref == model]
        return found

    def check_exclude(self, types: Mapping[str, str] | None) -> None:
        """Each ``exclude`` field exists and its values are of its type (a boolean for a
        flag, a GUID for a reference): a filter that can never match excludes nothing."""
        for i, entry in enumerate(self.spec.exclude):
            for name, wanted in entry.items():
                path: Path_ = ("exclude", i, name)
                if types is None or not self.known_source(path, name, types):
                    continue
                kind = edm_kind(types[name])
                for value in wanted if isinstance(wanted, list) else [wanted]:
                    if not _fits_filter(kind, value):
                        self.add(path, f"{value!r} can never equal {name} ({edm_word(types[name])}); "
                                 f"write {_FILTER_EXAMPLES.get(kind, 'a value of that type')}")

    def run(self) -> list[Problem]:
        if self.spec.model not in MODELS:
            self.add(("model",), f"no canonical model {self.spec.model!r}.{did_you_mean(self.spec.model, list(MODELS))} "
                     f"Models: {', '.join(MODELS)}")
        if self.spec.timezone is not None and not known_zone(self.spec.timezone):
                self.add(("timezone",), f"unknown time zone {self.spec.timezone!r}; use an IANA name such as 'Europe/Moscow'")
        types = self.check_entity()
        canonical = self.canonical if self.spec.model in MODELS else None
        for name, fs in self.spec.fields.items():
            self.check_field(("fields", name), name, fs, canonical, types, self.spec.entity, self.spec.model)
        self.check_children(types)
        self.check_exclude(types)
        self.check_required()
        self.check_targets()
        self.check_cycles()
        if self.facts.decided is not None:
            self.check_decided(self.facts.decided.get(self.spec.model, frozenset()))
        if self.facts.lengths is not None:
            for path, message in length_problems(self.spec, canonical, self.facts.lengths.get(self.spec.entity, {}),
                                                 self.facts.origin):
                self.add(path, message)
        if self.facts.sample and canonical is not None:
            for path, message in sample_problems(self.spec, self.facts.sample, self.extra):
                self.add(path, message)
        unique = dict.fromkeys(self.problems)
        return sorted(unique, key=lambda p: (p.where.line, p.where.column, p.field, p.message))


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FILTER_EXAMPLES = {"bool": "true or false", "guid": "a key like 5f2c0e44-3b9a-11ee-8c1e-0050569a1c2b",
                    "int": "a number", "number": "a number", "text": "text",
                    "datetime": "nothing: exclude compares no dates (a date field cannot be used)"}


def _fits_filter(kind: str, value: Any) -> bool:
    if kind in ("any", "object"):
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "guid":
        return isinstance(value, str) and bool(_GUID.match(value))
    if kind in ("int", "number"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return kind == "text" and isinstance(value, str)


def check_mapping(mf: MappingFile, *, facts: RemoteFacts | None = None, siblings: Mapping[str, MappingSpec] | None = None,
                  extra_transforms: Mapping[str, Transform] | None = None) -> list[str]:
    """Every problem of one mapping file, structure first, each as ``file:line:column: field: message``."""
    if mf.spec is None:
        return sorted(mf.problems, key=_place)
    checker = _Checker(mf, facts or RemoteFacts(), extra_transforms, siblings)
    return sorted(list(mf.problems) + [str(p) for p in checker.run()], key=_place)


_PLACE = re.compile(r":(\d+):(\d+): ")


def _place(problem: str) -> tuple[int, int]:
    found = _PLACE.search(problem)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def check_offline(mf: MappingFile) -> list[str]:
    """The checks that need no remote side (``load_mapping`` runs them)."""
    if mf.spec is None:
        return []
    return [str(p) for p in _Checker(mf, RemoteFacts(), None, None).run()]
