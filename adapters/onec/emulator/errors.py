"""1C OData errors as the emulator raises and serializes them.

1C answers every failure with ``{"odata.error":{"code":"9","message":{"lang":"ru",
"value":"…"}}}`` — the code is a *string* — and the HTTP status depends on the kind
of failure (INTERFACE.md §3). Raising :class:`ODataError` anywhere in the service
produces exactly that answer, so the mapping lives in one place.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

__all__ = [
    "ODataError",
    "bad_literal",
    "bad_path",
    "business_error",
    "filter_error",
    "method_forbidden",
    "not_found",
    "unknown_set",
]


class ODataError(Exception):
    """A 1C standard-interface error: HTTP ``status``, platform ``code`` and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} code {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def json_body(self, *, bom: bool = False) -> bytes:
        """The JSON body; ``bom`` prepends the UTF-8 BOM some 1C builds send."""
        body = json.dumps(
            {"odata.error": {"code": self.code, "message": {"lang": "ru", "value": self.message}}},
            ensure_ascii=False,
        ).encode("utf-8")
        return (b"\xef\xbb\xbf" + body) if bom else body

    def xml_body(self) -> bytes:
        """The XML body 1C sends when the request did not ask for ``$format=json``."""
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
            f"<code>{escape(self.code)}</code>"
            f'<message xml:lang="ru">{escape(self.message)}</message></error>'
        ).encode()


def not_found() -> ODataError:
    """Key of a published set that matches no object: 404, code 9."""
    return ODataError(404, "9", "Экземпляр сущности не найден")


def unknown_set(name: str) -> ODataError:
    """Set name not in the published content: 404 and the name echoed (GATE-P7)."""
    return ODataError(404, "6", f"Неправильный адрес ресурса. Сегмент '{name}' не найден")


def bad_path(what: str) -> ODataError:
    """Unknown `$select`/`$orderby`/`$expand` name or URL segment: 400, code 6, echoed."""
    return ODataError(400, "6", f"Неправильный адрес ресурса или параметр запроса: '{what}'")


def filter_error(detail: str) -> ODataError:
    """`$filter` that does not parse or type-check: 400, code 14."""
    return ODataError(400, "14", f"Ошибка при разборе опции запроса $filter: {detail}")


def bad_literal(literal: str) -> ODataError:
    """A Guid/Boolean/date literal 1C cannot parse: 400, code 1."""
    return ODataError(400, "1", f"Не удалось разобрать строку: {literal}")


def method_forbidden(method: str, target: str) -> ODataError:
    """An HTTP method the target does not allow: 400, code 19."""
    return ODataError(400, "19", f"Метод HTTP {method} запрещен для ресурса {target}")


def business_error(module: str, text: str) -> ODataError:
    """A 1C handler (``ПередЗаписью``, posting) raised: 500, code -1, module in braces."""
    return ODataError(500, "-1", f"{text}\n{{{module}}}")
