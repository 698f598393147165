"""SMS length: GSM-7 against UCS-2 segments, and cutting a text to a segment budget."""

from __future__ import annotations

import pytest

from notify.channels.segments import fit, measure


@pytest.mark.parametrize(("text", "encoding", "segments"), [
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),  # 153 a segment once split
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1),  # the extension table takes two places each
    ("€" * 81, "GSM-7", 2),
    ("я" * 70, "UCS-2", 1),
    ("я" * 71, "UCS-2", 2),  # 67 a segment once split
    ("a" * 69 + "«", "UCS-2", 1),  # one character outside GSM-7 turns the whole text
    ("😀" * 35, "UCS-2", 1),  # beyond the BMP: two UTF-16 units each
    ("😀" * 36, "UCS-2", 2),
])
def test_segments_are_counted_by_encoding(text: str, encoding: str, segments: int) -> None:
    length = measure(text)
    assert (length.encoding, length.segments) == (encoding, segments)


def test_a_russian_text_over_budget_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = "Обращение CRM-0000042 принято. " + "Очень длинное пояснение " * 20
    cut = fit(text, 2)
    assert cut.endswith("…")
    assert measure(cut).segments == 2
    assert cut.removesuffix("…").split()[-1] in ("Очень", "длинное", "пояснение")  # a whole word
    assert cut.startswith("Обращение CRM-0000042 принято.")


def test_a_latin_text_is_cut_with_three_dots_so_it_stays_gsm7() -> None:
    cut = fit("Request CRM-0000042 " + "word " * 100, 1)
    assert cut.endswith("...")
    assert measure(cut).encoding == "GSM-7"
    assert measure(cut).units <= 160


def test_a_text_within_budget_only_loses_extra_whitespace() -> None:
    assert fit("  Обращение   CRM-1\n\n принято ", 1) == "Обращение CRM-1\nпринято"
