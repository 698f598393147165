"""How many SMS segments a text costs, and how to cut it to a budget. Pure: no I/O.

An SMS carries 140 bytes. A text of GSM 03.38's default alphabet only (Latin letters,
digits, common punctuation) is GSM-7: 160 characters alone, 153 per segment when split
(the user data header takes 7); the extension table's ``^ { } \\ [ ] ~ | €`` take two
places each. Any other character (Cyrillic, ``«»``, ``№``, ``…``) turns the whole text to
UCS-2: 70 alone, 67 per segment; a character beyond the BMP (an emoji) takes two.
Russian texts are therefore UCS-2: three segments hold 201 characters.

``fit`` cuts a text over ``max_segments`` at the last word boundary that fits and ends
it with ``…`` (``...`` in a GSM-7 text, where ``…`` would switch it to UCS-2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SmsLength", "fit", "measure"]

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def _units(text: str) -> tuple[Literal["GSM-7", "UCS-2"], int]:
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text):
        return "GSM-7", sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def measure(text: str) -> SmsLength:
    """The encoding, length and segment count of `text` (an empty text: one segment)."""
    encoding, units = _units(text)
    single, multi = (160, 153) if encoding == "GSM-7" else (70, 67)
    segments = 1 if units <= single else -(-units // multi)
    return SmsLength(encoding, units, segments)


def _capacity(encoding: str, max_segments: int) -> int:
    if encoding == "GSM-7":
        return 160 if max_segments == 1 else 153 * max_segments
    return 70 if max_segments == 1 else 67 * max_segments


def fit(text: str, max_segments: int) -> str:
    """`text` (whitespace collapsed to single spaces and line breaks), cut to at most
    `max_segments` segments at a word boundary, marked with an ellipsis when cut."""
    text = "\n".join(" ".join(line.split()) for line in text.strip().splitlines() if line.strip())
    length = measure(text)
    if length.segments <= max_segments:
        return text
    mark = "..." if length.encoding == "GSM-7" else "…"
    budget = _capacity(length.encoding, max_segments) - _units(mark)[1]
    cut, used = 0, 0
    for index, ch in enumerate(text):  # the longest prefix within the budget
        used += _units(ch)[1] if length.encoding == "UCS-2" else (2 if ch in _GSM_EXTENSION else 1)
        if used > budget:
            break
        cut = index + 1
    head = text[:cut]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > cut // 2:  # a word boundary not too far back
        head = head[:space]
    return head.rstrip(" ,;:-\n") + mark
