"""The custom SOAP web service of the fixture WSDL, served over the same data.

``GET /<publication>/ws/CrmExchange.1cws?wsdl`` (also ``CRMExchange``, and without
``.1cws``) returns the packaged WSDL with the address of this server, like 1C
generates it. ``POST`` to the same path runs an operation, SOAP 1.1 or 1.2, document/
literal wrapped, answering the way 1C does: prefix ``m:`` on the wrapper, ``return``
carrying the XDTO namespace, dates without time zone, ``xsi:nil`` for empty values.
An exception in the "service module" is HTTP 500 with a SOAP Fault ``soap:Server``
whose text names the module line in braces.

Operations: ``GetChangedRequests(Cursor, ChangedSince, MaxCount)``,
``GetRequest(RequestRef)``, ``SetRequestDueDate(RequestRef, DueDate,
ExpectedDataVersion, Comment)``, ``SetRequestState(RequestRef, StateCode, …)``. State
codes are descriptions in upper case with ``_`` (``В_РАБОТЕ``). A stale
``ExpectedDataVersion`` is a refusal (``Успешно`` false, ``КодОшибки``
``КонфликтВерсий``), not a fault. A date sent with an offset keeps its wall time and
loses the offset, so send Moscow wall time. Requests are parsed with ElementTree; a
DOCTYPE is refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape

from .changelog import ChangeLog
from .errors import ODataError
from .query import normalize_datetime, normalize_guid
from .service import Response
from .store import EMPTY_DATE, EMPTY_REF, Store

__all__ = ["SoapService", "default_wsdl", "soap_fault"]

SERVICE = "CrmExchange"
TNS = "http://example.org/crm-exchange"
TYPES = "http://example.org/crm-exchange/types"
_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_REQUESTS = "Document_Интерес"
_MODULE = "{ВебСервис.CrmExchange.Модуль(118)}"


class _Fault(Exception):
    def __init__(self, text: str, *, client: bool = False) -> None:
        super().__init__(text)
        self.text, self.client = text, client


def default_wsdl() -> str:
    """The packaged WSDL (copy of the shared fixture)."""
    return resources.files(__package__).joinpath("data/crm_exchange.wsdl").read_text("utf-8")


class SoapService:
    """The ``CrmExchange`` service of one emulated base."""

    def __init__(self, store: Store, publication: str, wsdl: str | None = None) -> None:
        self.store, self.publication = store, publication
        self.wsdl = wsdl or default_wsdl()
        self.changes = ChangeLog(store, _REQUESTS)

    def handles(self, path: str) -> bool:
        name = path.removeprefix(f"/{self.publication}/ws/").removesuffix(".1cws")
        return path.startswith(f"/{self.publication}/ws/") and name.lower() == SERVICE.lower()

    def handle(self, method: str, query: str, headers: Mapping[str, str], body: bytes,
               origin: str) -> Response:
        if method == "GET" and query.lower().startswith("wsdl"):
            location = f"{origin}/{self.publication}/ws/{SERVICE}.1cws"
            text = re.sub(r'location="[^"]*"', f'location="{location}"', self.wsdl)
            return Response(200, text.encode("utf-8"), "text/xml;charset=utf-8")
        soap12 = "application/soap+xml" in headers.get("content-type", "")
        if method != "POST":
            return soap_fault(f"Метод HTTP {method} не поддерживается веб-сервисом", soap12=soap12,
                          client=True)
        try:
            operation, params = self._parse(body)
            with self.store.lock:
                result = self._call(operation, params)
        except _Fault as fault:
            return soap_fault(fault.text, soap12=soap12, client=fault.client)
        envelope = _SOAP12 if soap12 else _SOAP11
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<soap:Envelope xmlns:soap="{envelope}"><soap:Header/><soap:Body>'
            f'<m:{operation}Response xmlns:m="{TNS}">{result}</m:{operation}Response>'
            "</soap:Body></soap:Envelope>"
        )
        content_type = "application/soap+xml" if soap12 else "text/xml"
        return Response(200, xml.encode("utf-8"), f"{content_type};charset=utf-8")

    # ----------------------------------------------------------------- parsing
    def _parse(self, body: bytes) -> tuple[str, dict[str, str | None]]:
        if b"<!DOCTYPE" in body.upper():
            raise _Fault("Запрос отклонен: DOCTYPE не допускается", client=True)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise _Fault(f"Ошибка разбора XML запроса: {exc}", client=True) from exc
        soap_body = next((el for el in root if el.tag in (f"{{{_SOAP11}}}Body",
                                                          f"{{{_SOAP12}}}Body")), None)
        call = soap_body[0] if soap_body is not None and len(soap_body) else None
        if call is None or not call.tag.startswith(f"{{{TNS}}}"):
            raise _Fault("В запросе нет вызова операции веб-сервиса CrmExchange", client=True)
        params: dict[str, str | None] = {}
        for child in call:
            nil = child.get(f"{{{_XSI}}}nil") in ("true", "1")
            params[child.tag.rpartition("}")[2]] = None if nil else (child.text or "")
        return call.tag.rpartition("}")[2], params

    def _call(self, operation: str, params: Mapping[str, str | None]) -> str:
        if operation == "GetChangedRequests":
            return self._changed(params)
        if operation == "GetRequest":
            ref = normalize_guid(params.get("RequestRef") or "")
            row = self.store.lookup(_REQUESTS, ref) if ref else None
            if row is None:
                return f'<m:return xmlns:xsi="{_XSI}" xsi:nil="true"/>'
            return _return(self._request(row))
        if operation in ("SetRequestDueDate", "SetRequestState"):
            return _return(self._set(operation, params))
        raise _Fault(f"Операция {operation} не найдена в веб-сервисе CrmExchange", client=True)

    # -------------------------------------------------------------- operations
    def _changed(self, params: Mapping[str, str | None]) -> str:
        since = _date(params.get("ChangedSince"))
        limit = params.get("MaxCount")
        count = min(int(limit), 1000) if limit and limit.isdigit() and int(limit) > 0 else 100
        items: list[str] = []
        cursor = params.get("Cursor") or ""
        more = False
        for stamp, ref in self.changes.after(cursor or None, since):
            if len(items) == count:
                more = True
                break
            row = self.store.lookup(_REQUESTS, ref)
            if row is not None:
                items.append(f"<ns2:Обращение>{self._request(row)}</ns2:Обращение>")
                cursor = f"{stamp}|{ref}"
        return _return("".join(items) + f"<ns2:ЕстьЕще>{str(more).lower()}</ns2:ЕстьЕще>"
                       f"<ns2:Курсор>{escape(cursor)}</ns2:Курсор>")

    def _set(self, operation: str, params: Mapping[str, str | None]) -> str:
        raw_ref = params.get("RequestRef") or ""
        ref = normalize_guid(raw_ref)
        row = self.store.lookup(_REQUESTS, ref) if ref else None
        if ref is None or row is None:
            raise _Fault(f"Ошибка при вызове метода контекста ({operation})\n"
                         f"{_MODULE}: Обращение {raw_ref} не найдено")
        index = self.store.schema.sets[_REQUESTS].type.index
        expected = params.get("ExpectedDataVersion")
        if expected and expected != row[index["DataVersion"]]:
            return _result(ok=False, code="КонфликтВерсий", version=row[index["DataVersion"]],
                           text="Обращение изменено другим пользователем после чтения")
        changes: dict[str, Any] = {}
        if params.get("Comment") is not None:
            changes["Комментарий"] = params["Comment"]
        if operation == "SetRequestDueDate":
            due = _date(params.get("DueDate"))
            if params.get("DueDate") and due is None:
                raise _Fault(f"Ошибка при вызове метода контекста ({operation})\n"
                             f"{_MODULE}: Неверная дата {params.get('DueDate')}")
            changes["СрокИсполнения"] = due or EMPTY_DATE
        else:
            states = self._states()
            code = (params.get("StateCode") or "").upper()
            if code not in states:
                return _result(ok=False, code="НеизвестноеСостояние",
                               version=row[index["DataVersion"]],
                               text=f"Нет состояния {code}; допустимы: {', '.join(states)}")
            state_ref, final = states[code]
            changes["Состояние_Key"] = state_ref
            if final and row[index["ДатаЗавершения"]] == EMPTY_DATE:
                changes["ДатаЗавершения"] = self.store.clock().replace(microsecond=0).isoformat()
        try:
            self.store.check_free(_REQUESTS, ref)  # a 1C user holding it open: the module's write fails
            written = self.store.patch(_REQUESTS, ref, changes)
        except ODataError as exc:
            raise _Fault(f"Ошибка при вызове метода контекста ({operation})\n"
                         f"{_MODULE}: {exc.message}") from exc
        return _result(ok=True, version=written[index["DataVersion"]])

    def _states(self) -> dict[str, tuple[str, bool]]:
        index = self.store.schema.sets["Catalog_СостоянияИнтересов"].type.index
        return {
            _state_code(row[index["Description"]]): (ref, bool(row[index["Завершающее"]])
                                                     or row[index["Description"]] == "Решено")
            for ref, row in self.store.tables.get("Catalog_СостоянияИнтересов", {}).items()
        }

    def _request(self, row: Sequence[Any]) -> str:
        index = self.store.schema.sets[_REQUESTS].type.index

        def value(name: str) -> Any:
            return row[index[name]] if name in index else None

        def description(set_name: str, key: Any) -> str:
            target = self.store.lookup(set_name, key) if key and key != EMPTY_REF else None
            return "" if target is None else str(
                target[self.store.schema.sets[set_name].type.index["Description"]])

        state = description("Catalog_СостоянияИнтересов", value("Состояние_Key"))
        fields: list[tuple[str, Any]] = [
            ("Ссылка", value("Ref_Key")), ("Номер", value("Number")), ("Дата", value("Date")),
            ("ПометкаУдаления", str(bool(value("DeletionMark"))).lower()),
            ("ВерсияДанных", value("DataVersion")),
            ("ДатаИзменения", self.changes.changed_at(str(value("Ref_Key")))),
            ("Партнер", value("Партнер_Key")),
            ("ПартнерНаименование", description("Catalog_Партнеры", value("Партнер_Key"))),
            ("Контрагент", _nil_ref(value("Контрагент_Key"))),
            ("КонтактноеЛицо", _nil_ref(value("КонтактноеЛицо_Key"))),
            ("Ответственный", value("Ответственный_Key")),
            ("ОтветственныйНаименование",
             description("Catalog_Пользователи", value("Ответственный_Key"))),
            ("Состояние", _state_code(state)), ("СостояниеНаименование", state),
            ("Тема", value("Тема")), ("Описание", value("Описание")),
            ("СрокИсполнения", _nil_date(value("СрокИсполнения"))),
            ("ДатаЗавершения", _nil_date(value("ДатаЗавершения"))),
        ]
        return "".join(_element(name, item) for name, item in fields)


def _state_code(description: str) -> str:
    return description.upper().replace(" ", "_")


def _nil_ref(value: Any) -> Any:
    return None if not value or value == EMPTY_REF else value


def _nil_date(value: Any) -> Any:
    return None if not value or value == EMPTY_DATE else value


def _date(value: str | None) -> str | None:
    """xs:dateTime → 1C wall time: fraction and offset dropped (see module docstring)."""
    if not value:
        return None
    return normalize_datetime(re.sub(r"(Z|[+-]\d{2}:\d{2})$", "", value.strip()))


def _element(name: str, value: Any) -> str:
    if value is None:
        return f'<ns2:{name} xsi:nil="true"/>'
    return f"<ns2:{name}>{escape(str(value))}</ns2:{name}>"


def _return(inner: str) -> str:
    return (f'<m:return xmlns:ns2="{TYPES}" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
            f'xmlns:xsi="{_XSI}">{inner}</m:return>')


def _result(*, ok: bool, version: str, code: str | None = None, text: str | None = None) -> str:
    return (f"{_element('Успешно', str(ok).lower())}{_element('КодОшибки', code)}"
            f"{_element('ТекстОшибки', text)}{_element('ВерсияДанных', version)}")


def soap_fault(text: str, *, soap12: bool, client: bool = False) -> Response:
    if soap12:
        code = "soap:Sender" if client else "soap:Receiver"
        xml = (f'<soap:Envelope xmlns:soap="{_SOAP12}"><soap:Body><soap:Fault>'
               f"<soap:Code><soap:Value>{code}</soap:Value></soap:Code>"
               f'<soap:Reason><soap:Text xml:lang="ru">{escape(text)}</soap:Text></soap:Reason>'
               "</soap:Fault></soap:Body></soap:Envelope>")
        content_type = "application/soap+xml;charset=utf-8"
    else:
        code = "soap:Client" if client else "soap:Server"
        xml = (f'<soap:Envelope xmlns:soap="{_SOAP11}"><soap:Body><soap:Fault>'
               f"<faultcode>{code}</faultcode><faultstring>{escape(text)}</faultstring>"
               "<detail/></soap:Fault></soap:Body></soap:Envelope>")
        content_type = "text/xml;charset=utf-8"
    return Response(500, ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode(),
                    content_type)
