"""Minimal Atom/XML answers: what 1C sends when ``$format=json`` is missing.

Real 1C answers Atom whatever the ``Accept`` header says (INTERFACE.md §1, §10.1), so a
client that forgets ``$format=json`` gets XML it cannot read as JSON — the emulator does
the same instead of refusing, which is what makes that mistake visible in tests. The
same entry shape carries the exchange-plan change feed (``SelectChanges``, §7a), where a
real base writes **no** ``m:type`` on scalar properties — every value bare text, numbers
and booleans alike (``scalar_types=False``; ``m:null`` and the tabular sections' types
stay) — and where an object deleted from the base can be an Atom tombstone (RFC 6721,
``deleted_entry``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .schema import EntityType

__all__ = ["deleted_entry", "entry_xml", "feed", "service_document", "single"]

_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
_TOMBSTONES = 'xmlns:at="http://purl.org/atompub/tombstones/1.0"'  # RFC 6721, on feeds only
_SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"


def feed(base: str, title: str, entries: Iterable[str], updated: str, count: int | None = None) -> bytes:
    """An Atom feed around already rendered ``<entry>`` elements."""
    count_xml = f"<m:count>{count}</m:count>" if count is not None else ""
    body = "".join(entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<feed {_NS} {_TOMBSTONES} xml:base={quoteattr(base)}>"
        f"<id>{escape(base + title)}</id><title type=\"text\">{escape(title)}</title>"
        f"<updated>{updated}</updated>{count_xml}{body}</feed>"
    ).encode()


def single(base: str, entry: str) -> bytes:
    """One entity: the ``<entry>`` as the document element."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + entry.replace(
        "<entry>", f"<entry {_NS} xml:base={quoteattr(base)}>", 1)).encode("utf-8")


def entry_xml(
    base: str, path: str, type_name: str, etype: EntityType, values: Mapping[str, Any], updated: str,
    *, scalar_types: bool = True,
) -> str:
    """One ``<entry>`` with ``category/@term`` = ``StandardODATA.<type>`` and m:properties;
    ``scalar_types=False``: no ``m:type`` on scalar properties, as in a real 1C package."""
    return (
        f"<entry><id>{escape(base + path)}</id>"
        f"<category term=\"StandardODATA.{escape(type_name)}\" scheme=\"{_SCHEME}\"/>"
        f"<title type=\"text\"/><updated>{updated}</updated><author/><summary/>"
        f"<link rel=\"edit\" href={quoteattr(path)} title=\"edit-link\"/>"
        f"<content type=\"application/xml\"><m:properties>{_properties(etype, values, scalar_types=scalar_types)}"
        "</m:properties></content></entry>"
    )


def deleted_entry(base: str, path: str, when: str) -> str:
    """An Atom tombstone (RFC 6721) for an object deleted from the base: ``ref`` is the
    URL its entry had (``<base>Catalog_X(guid'…')``), ``when`` an instant with its offset."""
    return f"<at:deleted-entry ref={quoteattr(base + path)} when={quoteattr(when)}/>"


def service_document(base: str, set_names: Iterable[str]) -> bytes:
    """The AtomPub service document listing the published sets."""
    collections = "".join(
        f"<collection href={quoteattr(name)}><atom:title>{escape(name)}</atom:title></collection>"
        for name in set_names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<service xmlns="http://www.w3.org/2007/app" xmlns:atom="http://www.w3.org/2005/Atom" '
        f"xml:base={quoteattr(base)}><workspace><atom:title>Default</atom:title>"
        f"{collections}</workspace></service>"
    ).encode()


def _properties(etype: EntityType, values: Mapping[str, Any], *, scalar_types: bool = True) -> str:
    parts: list[str] = []
    for name, value in values.items():
        if "@" in name or name not in etype.index:
            continue
        section = etype.sections.get(name)
        if section is not None:
            row_type = f"StandardODATA.{section.row.name}"
            rows = "".join(
                f"<d:element m:type=\"{escape(row_type)}\">{_properties(section.row, row, scalar_types=scalar_types)}"
                "</d:element>"
                for row in value
            )
            parts.append(f"<d:{name} m:type=\"Collection({escape(row_type)})\">{rows}</d:{name}>")
            continue
        edm = etype.properties[name].edm
        type_attr = "" if edm == "Edm.String" or not scalar_types else f" m:type=\"{edm}\""
        if value is None:
            parts.append(f"<d:{name}{type_attr} m:null=\"true\"/>")
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            parts.append(f"<d:{name}{type_attr}>{escape(text)}</d:{name}>")
    return "".join(parts)
