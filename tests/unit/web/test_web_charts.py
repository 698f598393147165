"""The dashboard's charts drawn from their data in each language (``web.charts.draw``)."""

from __future__ import annotations

from datetime import date

from web.charts import draw
from web.i18n import MESSAGES

DATA = {
    "volume": [{"day": date(2026, 12, 6), "counts": {"email": 2}}, {"day": date(2026, 12, 7), "counts": {}}],
    "sla": [{"metric": "first_response", "met": 3, "ended": 4, "share": 0.75},
            {"metric": "resolution", "met": 0, "ended": 0, "share": None}],
    "backlog": [{"under_hours": 4, "count": 1}, {"under_hours": 24, "count": 0}, {"under_hours": 72, "count": 2},
                {"under_hours": 168, "count": 0}, {"under_hours": None, "count": 5}],
    "csat": None,
    "load": [{"agent": "Петров Пётр", "open": 9, "capacity": 8}],
}


def test_the_charts_speak_the_pages_language_and_csat_needs_its_source():
    ru, en = draw(DATA, MESSAGES["ru"], "ru"), draw(DATA, MESSAGES["en"], "en")
    assert set(ru) == {"volume", "sla", "backlog", "load"}  # no CSAT source: no CSAT chart
    for label in ("&lt; 4 ч", "4 ч–1 дн", "1 дн–3 дн", "3 дн–7 дн", "&gt; 7 дн"):
        assert label in str(ru["backlog"])
    assert "&gt; 7 d<" in str(en["backlog"])
    assert "Первый ответ" in str(ru["sla"])
    assert "First response" in str(en["sla"])
    assert ">06.12<" in str(ru["volume"])
    assert "9/8" in str(ru["load"])


def test_the_csat_line_comes_with_its_source():
    data = {**DATA, "csat": [{"week": date(2026, 11, 30), "surveys": 3, "answered": 2, "score": 4.5},
                             {"week": date(2026, 12, 7), "surveys": 0, "answered": 0, "score": None}]}
    svg = str(draw(data, MESSAGES["en"], "en")["csat"])
    assert "Customer rating by week (1–5)" in svg
    assert ">4.5<" in svg
