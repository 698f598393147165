"""How 1C orders references: shared by the adapter and the emulator."""

from __future__ import annotations

__all__ = ["stored_order"]


def stored_order(guid: str) -> str:
    """A reference's sort key as 1C compares references (``gt``, ``$orderby``): by the 16
    bytes it stores, which hold the GUID's last two groups first, then the third, the
    second and the first (``c0d776fd-0393-11e1-9c4e-0022642fda98`` is stored as
    ``9c4e0022642fda98 11e1 0393 c0d776fd``). Not the text's order: for time-based
    GUIDs the text leads with the fastest-changing bits. Takes the lower-case dashed form."""
    return guid[19:23] + guid[24:36] + guid[14:18] + guid[9:13] + guid[0:8]
