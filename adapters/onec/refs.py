"""The orders a 1C base may compare references in (``gt``/``lt`` in ``$filter``, ``$orderby``).

The emulator orders its keys by one of them (its ``ref_order`` switch); the adapter
assumes none: it cuts key ranges at keys the server itself returned in its own order.
Each function takes the lower-case dashed form and returns a text whose plain string
order is that order.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["REF_ORDERS", "stored_order", "text_order", "uniqueidentifier_order"]


def stored_order(guid: str) -> str:
    """A reference's sort key as 1C compares references (``gt``, ``$orderby``): by the 16
    bytes it stores, which hold the GUID's last two groups first, then the third, the
    second and the first (``c0d776fd-0393-11e1-9c4e-0022642fda98`` is stored as
    ``9c4e0022642fda98 11e1 0393 c0d776fd``). Not the text's order: for time-based
    GUIDs the text leads with the fastest-changing bits. Takes the lower-case dashed form."""
    return guid[19:23] + guid[24:36] + guid[14:18] + guid[9:13] + guid[0:8]


def text_order(guid: str) -> str:
    """The GUID's text as it reads (also PostgreSQL's ``uuid`` order, which compares the
    RFC 4122 bytes): what a base that keeps references as text or ``uuid`` would do."""
    return guid


def uniqueidentifier_order(guid: str) -> str:
    """SQL Server's ``uniqueidentifier`` order (``SqlGuid``): the last six bytes first,
    then the fourth group, then the bytes of the third, second and first groups in
    reverse (they are stored little-endian): ``c0d776fd-0393-11e1-9c4e-0022642fda98`` →
    ``0022642fda98 9c4e e111 9303 fd76d7c0``."""
    return (guid[24:36] + guid[19:23] + guid[16:18] + guid[14:16] + guid[11:13] + guid[9:11]
            + guid[6:8] + guid[4:6] + guid[2:4] + guid[0:2])


#: ``ref_order`` name → sort key; ``binary`` (1C's stored form) is what the emulator does by default
REF_ORDERS: dict[str, Callable[[str], str]] = {
    "binary": stored_order,
    "text": text_order,
    "uniqueidentifier": uniqueidentifier_order,
}
