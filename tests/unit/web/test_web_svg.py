"""The dashboard's SVG builders: columns stacked per series, shares, load against capacity,
a line with gaps; every text escaped, no inline style (the CSP)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from web.svg import COLOURS, column_chart, line_chart, load_chart, share_chart

NS = "{http://www.w3.org/2000/svg}"


def _parsed(svg: object) -> ET.Element:
    text = str(svg)
    assert "style=" not in text
    return ET.fromstring(text)  # well-formed: a browser draws it


def test_columns_stack_each_series_in_its_colour_and_scale_to_the_largest_day():
    root = _parsed(column_chart([("01.12", {"email": 3, "phone": 1}), ("02.12", {}), ("03.12", {"phone": 2})],
                                title="Opened <per> day"))
    rects = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert [(r.find(f"{NS}title").text, r.get("fill")) for r in rects] == [  # type: ignore[union-attr]
        ("01.12: email 3", COLOURS[0]), ("01.12: phone 1", COLOURS[1]), ("03.12: phone 2", COLOURS[1])]
    heights = [float(r.get("height", 0)) for r in rects]
    assert heights[0] + heights[1] == 140  # the busiest day fills the room
    assert heights[2] == 70
    assert root.find(f"{NS}title").text == "Opened <per> day"  # type: ignore[union-attr]
    assert [t.text for t in root.iter(f"{NS}text") if t.text in ("email", "phone")] == ["email", "phone"]  # the legend


def test_a_month_of_columns_labels_every_seventh_day_only():
    svg = str(column_chart([(f"{d:02}.11", {"email": 1}) for d in range(1, 31)], title="x"))
    assert re.findall(r">(\d\d\.11)</text>", svg) == ["01.11", "08.11", "15.11", "22.11", "29.11"]


def test_shares_draw_the_met_part_green_and_say_the_percentage():
    root = _parsed(share_chart([("first response", 0.75, 8), ("resolution", None, 0)], title="SLA"))
    greens = [int(r.get("width", 0)) for r in root.iter(f"{NS}rect") if r.get("fill") == "#1e7b34"]
    assert greens == [180]  # 3/4 of 240
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "75% (8)" in texts
    assert "—" in texts  # nothing ended: no bar, a dash


def test_load_past_capacity_is_red_and_the_capacity_is_a_tick():
    root = _parsed(load_chart([("Петров", 10, 8), ("Сидорова", 2, 8), ("Bot", 1, None)], title="Load"))
    bars = [(int(r.get("width", 0)), r.get("fill")) for r in root.iter(f"{NS}rect")]
    assert bars == [(240, "#c0392b"), (48, "#9aa7b8"), (24, "#9aa7b8")]
    ticks = [int(line.get("x1", 0)) for line in root.iter(f"{NS}line")]
    assert ticks == [120 + 192, 120 + 192]  # 8 of 10, for the two with a capacity
    assert {"10/8", "2/8", "1"} <= {t.text for t in root.iter(f"{NS}text")}


def test_a_line_breaks_where_a_week_has_no_value():
    root = _parsed(line_chart([("w1", 4.0), ("w2", 5.0), ("w3", None), ("w4", 3.0), ("w5", 1.0)],
                              title="CSAT", low=1, high=5))
    lines = [p.get("points", "").split() for p in root.iter(f"{NS}polyline")]
    assert [len(points) for points in lines] == [2, 2]
    ys = [float(c.get("cy", 0)) for c in root.iter(f"{NS}circle")]
    assert ys == [10 + 140 * 1 / 4, 10.0, 10 + 140 * 2 / 4, 150.0]  # 4, 5, 3, 1 on the 1..5 scale
