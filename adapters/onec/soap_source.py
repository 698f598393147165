"""Records changed since an instant, read from a company's own 1C web service (SOAP).

1C objects carry no modified-at field (INTERFACE.md §7); where the 1C developers wrote a
"changes since" service — the shared fixture WSDL's ``GetChangedRequests(Cursor,
ChangedSince, MaxCount)``, answering pages of objects with their change time, a cursor
and "more" — the sync engine reads it as a ``sync.source.CursorSource``: in time windows
``[since, until)`` that start ``cursor_overlap`` before the last one ended and stay
``cursor_lag`` behind now (``sync.window``). Example::

    source = SoapChangeSource("crm-ws", SoapClient(name="crm-ws", wsdl=url, username=login,
                              password=secret), mappings_dir=Path("mappings/crm-ws"))
    for page in source.changed(spec, since, until):   # pages of RemoteRecord
        ...

* The service's names are parameters, the fixture's by default (``Обращение`` items,
  ``ДатаИзменения`` stamps, ``ЕстьЕще``/``Курсор`` paging).
* Change times come naive in the base's zone; ``SoapClient`` makes them aware, and
  ``since`` is sent as that zone's wall clock. Items stamped at or after ``until`` end
  the window (the service lists in time order): the next window reads them.
* A page that says "more" without moving the cursor is a fault (retried by the next
  run), never an endless loop; an item without key or stamp is a fault too, never
  skipped — skipping would lose it once the cursor moves past it.
* Configured as the backend kind ``onec_soap`` (``OneCSoapConfig``, built by
  ``from_config``); ``check`` loads the WSDL and finds the operations, names and mapped
  fields the configuration expects.
* ``update`` writes through the service's setter operations (``SetRequestDueDate``,
  ``SetRequestState``); their "not done" answers become typed errors, a stale
  ``ExpectedDataVersion`` (``КонфликтВерсий``) an ``OneCVersionConflict``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.onec.config import DEFAULT_WRITERS, OneCSoapConfig
from adapters.onec.errors import OneCRejected, OneCUnavailable, OneCVersionConflict, transient
from adapters.onec.soap import SoapClient
from crm_bridge.interactive import capped
from mapping.load import load_mapping
from mapping.spec import MappingSpec
from sync.source import RemoteRecord

__all__ = ["DEFAULT_SOAP_MAPPINGS", "DEFAULT_WRITERS", "SoapChangeSource"]

log = logging.getLogger(__name__)

#: the shipped mapping of the fixture service's ``Обращение`` items
DEFAULT_SOAP_MAPPINGS = Path(__file__).parent / "data" / "mappings_soap"
_CHANGES_PARAMETERS = ("Cursor", "ChangedSince", "MaxCount")


class SoapChangeSource:
    """A ``sync.source.CursorSource`` (and ``RemoteBackend``) over a 1C "changes since" web service."""

    described_by = "the web service's WSDL"  # what `describe` reads (told by `mapping suggest`)
    cursor_overlap = timedelta(minutes=5)  # a 1C transaction committing late keeps its earlier stamp
    cursor_lag = timedelta(seconds=30)

    def __init__(
        self,
        name: str,
        client: SoapClient,
        *,
        mappings_dir: Path,
        operation: str = "GetChangedRequests",
        items: str = "Обращение",
        stamp: str = "ДатаИзменения",
        more: str = "ЕстьЕще",
        cursor: str = "Курсор",
        page_size: int = 500,
        writers: Mapping[str, tuple[str, str]] = DEFAULT_WRITERS,
        models: Sequence[str] = ("ticket",),
        overlap: timedelta = timedelta(minutes=5),
        lag: timedelta = timedelta(seconds=30),
    ) -> None:
        if not 1 <= page_size <= 1000:
            msg = f"{name}: page_size must be 1..1000, not {page_size}"
            raise ValueError(msg)
        self.cursor_overlap, self.cursor_lag = overlap, lag
        self.name, self.client, self._mappings_dir = name, client, mappings_dir
        self.operation, self.items, self.stamp, self.more, self.cursor = operation, items, stamp, more, cursor
        self.page_size, self.writers, self.models = page_size, dict(writers), list(models)

    @classmethod
    def from_config(cls, name: str, config: OneCSoapConfig) -> SoapChangeSource:
        """The backend of an ``onec_soap`` configuration entry."""
        # a person at a terminal (check, inspect) waits seconds, not minutes: crm_bridge.interactive
        connect, read, total = capped(config.timeout.connect, config.timeout.read, config.timeout.total)
        client = SoapClient(name=name, wsdl=str(config.wsdl), username=config.username,
                            password=config.password.get_secret_value(), timezone=config.timezone,
                            timeout=(connect, read), total_timeout=total, max_answer_bytes=config.max_answer_mb << 20)
        names = config.service
        return cls(name, client, mappings_dir=Path(config.mappings) if config.mappings else DEFAULT_SOAP_MAPPINGS,
                   operation=names.operation, items=names.items, stamp=names.stamp, more=names.more,
                   cursor=names.cursor, page_size=config.page_size, writers=config.writers, models=config.models,
                   overlap=timedelta(seconds=config.window_overlap), lag=timedelta(seconds=config.window_lag))

    @property
    def mappings_dir(self) -> Path:
        return self._mappings_dir

    def _pages(self, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Raw item pages from `since` on (``None``: every object), following the cursor."""
        cursor: str | None = None
        while True:
            answer = self.client.call(self.operation, Cursor=cursor, ChangedSince=since, MaxCount=self.page_size)
            if not isinstance(answer, dict):
                raise OneCUnavailable(f"{self.name}: {self.operation} answered nothing; will retry")
            yield list(answer.get(self.items) or [])
            if not answer.get(self.more):
                return
            moved = answer.get(self.cursor)
            if not moved or moved == cursor:
                raise OneCUnavailable(f"{self.name}: {self.operation} says there is more but did not move its cursor "
                                      f"({moved!r}); will retry — check the 1C service module")
            cursor = str(moved)

    def _record(self, spec: MappingSpec, item: dict[str, Any]) -> RemoteRecord:
        key = item.get(spec.key)
        if not key:
            raise OneCUnavailable(f"{self.name}: {self.operation} sent an item without {spec.key}; will retry — the window "
                                  f"waits for it (a record cannot be bound without its key): fill {spec.key} in every "
                                  f"item in the 1C service module. Item: {_shown(item)}")
        deleted = bool(item.get(spec.deleted)) if spec.deleted else False
        return RemoteRecord(str(key), spec.version_of(item), deleted, dict(item))

    def _stamp(self, item: dict[str, Any]) -> datetime:
        value = item.get(self.stamp)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise OneCUnavailable(f"{self.name}: {self.operation} sent an item without a change time ({self.stamp}="
                                  f"{value!r}); will retry — the window cannot place it: fill {self.stamp} in every item "
                                  f"in the 1C service module. Item: {_shown(item)}")
        return value

    def changed(self, spec: MappingSpec, since: datetime, until: datetime) -> Iterator[list[RemoteRecord]]:
        """Records changed in ``[since, until)``, a page at a time, in the service's time order."""
        for items in self._pages(since):
            page: list[RemoteRecord] = []
            for item in items:
                stamp = self._stamp(item)
                if stamp >= until:
                    if page:
                        yield page
                    return
                if stamp >= since:
                    page.append(self._record(spec, item))
            if page:
                yield page

    def read(self, spec: MappingSpec, *, after: str | None = None) -> Iterator[list[RemoteRecord]]:
        """Every object the service lists (a full pass); it resumes by time window, not by key."""
        if after is not None:
            msg = f"{self.name}: a SOAP change source resumes by time window, not after a key"
            raise ValueError(msg)
        for items in self._pages(None):
            if items:
                yield [self._record(spec, item) for item in items]

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
               expected_version: str | None = None) -> str | None:
        """Write `values` through the service's setters, one call per field; the new version.

        Each call carries the version it expects (``ExpectedDataVersion``): first the one the
        decision was taken against, then the one the previous call produced. A 1C user's
        edit in between is refused by 1C (``OneCVersionConflict``, retried after the next
        import has merged it), never silently overwritten."""
        unknown = sorted(set(values) - set(self.writers))
        if unknown:
            raise OneCRejected(f"{self.name}: the web service cannot write {', '.join(unknown)} of {spec.entity}; "
                               f"it writes {', '.join(sorted(self.writers))} — mark the field owner: remote in the mapping")
        version = expected_version
        for field_name, value in values.items():
            operation, parameter = self.writers[field_name]
            result = self.client.call(operation, RequestRef=remote_id, ExpectedDataVersion=version, Comment=None,
                                      **{parameter: value})
            version = self._written(operation, remote_id, result)
        return version

    def _written(self, operation: str, remote_id: str, result: Any) -> str | None:
        where = f"{self.name}: {operation}({remote_id})"
        if not isinstance(result, dict):
            raise OneCUnavailable(f"{where}: no result in the answer; will retry")
        version = result.get("ВерсияДанных")
        if result.get("Успешно") is True:
            return None if version is None else str(version)
        code, text = result.get("КодОшибки"), result.get("ТекстОшибки") or ""
        if code == "КонфликтВерсий":
            raise OneCVersionConflict(f"{where}: changed in 1C meanwhile ({text}); it is read again and re-sent",
                                      current_version=None if version is None else str(version))
        if transient(f"{code} {text}"):
            raise OneCUnavailable(f"{where}: 1C could not apply it now: {code}: {text}; will retry")
        raise OneCRejected(f"{where}: 1C did not apply it: {code}: {text}", code=None if code is None else str(code))

    # -- crm-bridge check ----------------------------------------------------------------
    def check(self) -> list[dict[str, Any]]:
        """Load the WSDL, call the changes operation once, and find every configured name.

        Returns one ``{"ok": bool, "detail": str}`` per finding; a login refused or a
        service not published raises (``check`` reports it under the backend's name).
        """
        operations = self.client.operations()
        found: list[dict[str, Any]] = [{"ok": True, "detail": (
            f"{self.client.wsdl}: WSDL loaded, logged in, operations {', '.join(operations)}")}]
        if self.operation not in operations:
            found.append({"ok": False, "detail": (
                f"the web service has no operation {self.operation} (service.operation); it offers "
                f"{', '.join(operations)} — set service.operation to the \"changes since\" operation or publish it in 1C")})
            return found
        found.append(self._check_changes())
        item_fields = self._item_fields()
        for model in self.models:
            found.append(self._check_model(model, item_fields, operations))
        return found

    def _check_changes(self) -> dict[str, Any]:
        """The changes operation's parameters and answer names, and one real call."""
        parameters = _input_names(self.client, self.operation)
        lacking = [p for p in _CHANGES_PARAMETERS if parameters is not None and p not in parameters]
        if parameters is not None and lacking:
            return {"ok": False, "detail": (
                f"{self.operation} lacks parameter(s) {', '.join(lacking)}; a change service takes "
                f"{', '.join(_CHANGES_PARAMETERS)} (it has {', '.join(parameters) or 'none'})")}
        answer = self.client.call(self.operation, Cursor=None, ChangedSince=datetime.now(UTC), MaxCount=1)
        names = set(answer) if isinstance(answer, dict) else set()
        wanted = {"service.items": self.items, "service.more": self.more, "service.cursor": self.cursor}
        missing = [f"{key} {value!r}" for key, value in wanted.items() if value not in names]
        if missing:
            return {"ok": False, "detail": (
                f"{self.operation} answers {', '.join(sorted(names)) or 'nothing'}; no {', '.join(missing)} — "
                "fix the names under service:")}
        return {"ok": True, "detail": f"{self.operation}: called, answers {self.items} items with {self.more} and {self.cursor}"}

    def _item_types(self) -> dict[str, str] | None:
        """Field → Edm-style type of one item, as the WSDL declares it (None when it does not say)."""
        try:
            answer = self.client.service._binding._operations[self.operation].output.body.type
            for _, element in answer.elements:  # the wrapper's "return"
                for name, item in getattr(element.type, "elements", []):
                    if name == self.items:
                        return {field: _edm(xsd.type) for field, xsd in item.type.elements}
        except (AttributeError, KeyError, TypeError):  # an unusual schema: the answer check above stands
            return None
        return None

    def _item_fields(self) -> list[str] | None:
        types = self._item_types()
        return None if types is None else list(types)

    def describe(self) -> dict[str, dict[str, str]]:
        """Items of the "changes since" operation as an entity: ``<Service>.<items>`` → {field:
        Edm-style type} from the WSDL's schema (what ``mapping check`` and ``mapping suggest``
        read from ``$metadata`` for OData), also under each configured mapping's entity name
        (for this kind a label naming the checkpoint stream). Empty when the schema does not say."""
        types = self._item_types()
        if types is None:
            return {}
        services = list(self.client.client.wsdl.services)
        found = {f"{services[0] if services else self.operation}.{self.items}": types}
        for model in self.models:
            path = self.mappings_dir / f"{model}.yaml"
            if path.is_file():
                found.setdefault(load_mapping(path).entity, types)
        return found

    def _check_model(self, model: str, item_fields: list[str] | None, operations: list[str]) -> dict[str, Any]:
        path = self.mappings_dir / f"{model}.yaml"
        if not path.is_file():
            return {"ok": False, "detail": f"{model}: mapping file {path} is missing (mappings:, models:)"}
        spec = load_mapping(path)
        problems: list[str] = []
        if item_fields is not None:
            absent = [f for f in [*spec.remote_fields(), self.stamp] if f not in item_fields]
            if absent:
                problems.append(f"{self.items} items lack {', '.join(dict.fromkeys(absent))} "
                                f"(they have {', '.join(item_fields)}); fix the mapping {path} or service.stamp")
        for field in spec.fields.values():
            if field.owner == "remote":
                continue
            writer = self.writers.get(field.source)
            if writer is None:
                problems.append(f"no writer for {field.source} (owned {field.owner}); add writers: "
                                f"{{{field.source}: [<operation>, <parameter>]}} or mark it owner: remote")
            elif writer[0] not in operations:
                problems.append(f"writer of {field.source}: the web service has no operation {writer[0]}")
            elif (parameters := _input_names(self.client, writer[0])) is not None and writer[1] not in parameters:
                problems.append(f"writer of {field.source}: {writer[0]} has no parameter {writer[1]} "
                                f"(it has {', '.join(parameters)})")
        if problems:
            return {"ok": False, "detail": f"{model}: " + "; ".join(problems)}
        return {"ok": True, "detail": f"{model}: {self.items} items carry the {len(spec.remote_fields())} mapped fields"}

    def close(self) -> None:
        self.client.close()


#: XML Schema built-in types → the Edm names the mapping checks speak (``mapping.kinds``)
_XSD_EDM = {"string": "Edm.String", "normalizedString": "Edm.String", "token": "Edm.String", "anyURI": "Edm.String",
            "boolean": "Edm.Boolean", "dateTime": "Edm.DateTime", "date": "Edm.DateTime", "decimal": "Edm.Decimal",
            "double": "Edm.Double", "float": "Edm.Single", "long": "Edm.Int64", "integer": "Edm.Int64",
            "int": "Edm.Int32", "short": "Edm.Int16", "byte": "Edm.SByte", "unsignedByte": "Edm.Byte",
            "base64Binary": "Edm.Binary"}


def _shown(item: Mapping[str, Any]) -> str:
    """An item for an error message: its first fields, values cut short."""
    return ", ".join(f"{k}={str(v)[:40]!r}" for k, v in list(item.items())[:6])


def _edm(xsd_type: Any) -> str:
    """One field's XML Schema type as an Edm name; a list or an unknown type is ``any``."""
    name = getattr(getattr(xsd_type, "qname", None), "localname", None) or getattr(xsd_type, "name", None)
    return _XSD_EDM.get(str(name), "any")


def _input_names(client: SoapClient, operation: str) -> list[str] | None:
    """The parameters of `operation` (document/literal wrapped) as the WSDL declares them;
    None when its schema does not say (the check then trusts the call)."""
    try:
        body = client.service._binding._operations[operation].input.body
        return [str(name) for name, _ in body.type.elements]
    except (AttributeError, KeyError, TypeError):
        return None
