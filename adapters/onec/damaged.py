"""Answers whose text is damaged in one record, read so that only that record is lost.

A fast strict parse (pydantic-core) refuses a whole page for one record's text: bytes
that are not UTF-8 (a proxy re-encoding the answer, a cp1251 hop) or a lone UTF-16
surrogate escape (``"\\ud800"``: 1C's strings are UTF-16 and can hold one). Either made
every read of the page fail, forever. Read again leniently, the page parses; each row
whose text held bytes that are not UTF-8 carries ``DAMAGED`` (the fields, with U+FFFD in
place of the bytes), so the adapter refuses that record alone (``RemoteRecord.invalid``)
and the rest of the page is imported. Lone surrogates stay as they came: the sync engine
stores them as U+FFFD and notes it (``sync.quarantine.storable``).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

__all__ = ["DAMAGED", "lenient_json"]

#: key added to a row whose text held bytes that are not UTF-8: its value names the fields
DAMAGED = "@crm-bridge.not-utf8"
# Each undecodable byte becomes this noncharacter first (never in 1C text), then U+FFFD.
_MARK = "\U0010fffe"


def _marked(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return _MARK, error.end


codecs.register_error("crm-bridge-mark", _marked)


def lenient_json(content: bytes) -> Any:
    """`content` parsed as JSON, damaged text marked (see the module docstring).

    Raises:
        ValueError: not JSON even so (an HTML page, a cut answer).
    """
    text = content.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="crm-bridge-mark")
    body = json.loads(text)
    if _MARK in text:
        listed = body.get("value") if isinstance(body, dict) else None
        rows: list[Any] = listed if isinstance(listed, list) else [body]
        for row in rows:
            if isinstance(row, dict):
                fields = [name for name, value in row.items() if _MARK in json.dumps(value, ensure_ascii=False)]
                if fields:
                    for name in fields:
                        row[name] = _unmark(row[name])
                    row[DAMAGED] = fields
    return body


def _unmark(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_MARK, "\ufffd")
    if isinstance(value, list):
        return [_unmark(v) for v in value]
    if isinstance(value, dict):
        return {k: _unmark(v) for k, v in value.items()}
    return value
