"""The pure parts of the pages: the SVG chart and what a customer sees of an agent's name."""

from __future__ import annotations

import re

from web.cabinet import first_name
from web.svg import bar_chart


def test_bars_scale_to_the_largest_and_the_breached_part_is_red():
    svg = str(bar_chart([("L1", 10, 4), ("L2 <b>", 5, 0)], title="Open & breached"))
    widths = [int(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="(\d+)" height="18" fill="#9aa7b8"', svg)]
    red = re.findall(r'width="(\d+)" height="18" fill="#c0392b"', svg)
    assert widths == [240, 120]
    assert red == ["96"]  # 4 of 10 over the L1 bar; none for L2
    assert "L2 &lt;b&gt;" in svg
    assert "Open &amp; breached" in svg
    assert "style=" not in svg  # presentation attributes only: the CSP allows no inline style


def test_an_empty_chart_has_no_bars():
    assert "<rect" not in str(bar_chart([], title="x"))


def test_a_customer_sees_the_given_name_only():
    assert first_name("Петров Пётр") == "Пётр"
    assert first_name("Сидорова Анна Ивановна") == "Анна"
    assert first_name("Пётр") == "Пётр"
    assert first_name("John Smith") == "John"
    assert first_name("  ") is None
    assert first_name(None) is None
