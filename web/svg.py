"""Charts drawn on the server as SVG: no script, nothing loaded from elsewhere, and the
page's CSP (``style-src 'self'``) holds because only presentation attributes are used.
Each builder takes plain rows and words already in the page's language, and draws into a
phone's width (the stylesheet scales ``.chart`` to the column). Every text goes through
``escape``. Example::

    bar_chart([("L1", 4, 1), ("L2", 2, 0)], title="Open requests by team")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["COLOURS", "bar_chart", "column_chart", "line_chart", "load_chart", "share_chart"]

ROW, LABEL, WIDTH = 28, 120, 240  # pixels: one bar's height, the label column, the bars' room (a phone's width)
HEIGHT = 140  # the columns' and the line's room
GREY, RED, GREEN, INK = "#9aa7b8", "#c0392b", "#1e7b34", "#222"
#: the series' colours, in order (distinguishable in grey print too)
COLOURS = ("#1f5fa8", "#e08e0b", "#2a9d8f", "#8e44ad", "#7f8c8d", "#d35400", "#16a085", "#34495e")


def _open(title: str, width: int, height: int) -> list[str]:
    return [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]


def _text(x: float, y: float, text: object, *, size: int = 14, anchor: str = "start", fill: str = INK) -> str:
    return f'<text x="{x:g}" y="{y:g}" font-size="{size}" fill="{fill}" text-anchor="{anchor}">{escape(str(text))}</text>'


def _fit(label: str, room: int = LABEL - 6, size: int = 14) -> str:
    """`label` cut with an ellipsis to about `room` pixels (a glyph is about 0.55 of the size)."""
    most = max(int(room / (0.55 * size)), 2)
    return label if len(label) <= most else label[: most - 1] + "…"


def _done(parts: list[str]) -> Markup:
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def bar_chart(rows: Sequence[tuple[str, int, int]], *, title: str) -> Markup:
    """Horizontal bars, one per `rows` entry ``(label, total, alarming)``: the total in grey,
    the alarming part (breached) in red over it; scaled to the largest total."""
    top = max((total for _, total, _ in rows), default=0) or 1
    parts = _open(title, LABEL + WIDTH + 50, ROW * len(rows) + 8)
    for index, (label, total, alarming) in enumerate(rows):
        y = 4 + index * ROW
        full, red = round(WIDTH * total / top), round(WIDTH * min(alarming, total) / top)
        parts.append(_text(0, y + 18, _fit(label)))
        parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{full}" height="18" fill="{GREY}"/>')
        if red:
            parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{red}" height="18" fill="{RED}"/>')
        parts.append(_text(LABEL + full + 6, y + 18, total))
    return _done(parts)


def share_chart(rows: Sequence[tuple[str, float | None, int]], *, title: str, none: str = "—") -> Markup:
    """Horizontal bars of shares (0..1), one per ``(label, share, out of how many)``: the
    met part green over a red whole, the percentage and the count beside; None: no bar."""
    parts = _open(title, LABEL + WIDTH + 90, ROW * len(rows) + 8)
    for index, (label, share, of) in enumerate(rows):
        y = 4 + index * ROW
        parts.append(_text(0, y + 18, _fit(label)))
        if share is None:
            parts.append(_text(LABEL, y + 18, none, fill=GREY))
            continue
        parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{WIDTH}" height="18" fill="{RED}"/>')
        parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{round(WIDTH * share)}" height="18" fill="{GREEN}"/>')
        parts.append(_text(LABEL + WIDTH + 6, y + 18, f"{share:.0%} ({of})"))
    return _done(parts)


def load_chart(rows: Sequence[tuple[str, int, int | None]], *, title: str) -> Markup:
    """Each agent's open requests ``(label, open, capacity)``: a grey bar, red past the
    capacity, and the capacity as a dark tick (None: no tick); ``open/capacity`` beside."""
    top = max((max(n, cap or 0) for _, n, cap in rows), default=0) or 1
    parts = _open(title, LABEL + WIDTH + 60, ROW * len(rows) + 8)
    for index, (label, n, cap) in enumerate(rows):
        y = 4 + index * ROW
        parts.append(_text(0, y + 18, _fit(label)))
        over = cap is not None and n > cap
        parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{round(WIDTH * n / top)}" height="18" '
                     f'fill="{RED if over else GREY}"/>')
        if cap is not None:
            x = LABEL + round(WIDTH * cap / top)
            parts.append(f'<line x1="{x}" y1="{y + 1}" x2="{x}" y2="{y + 25}" stroke="{INK}" stroke-width="2"/>')
        parts.append(_text(LABEL + WIDTH + 6, y + 18, f"{n}/{cap}" if cap is not None else n))
    return _done(parts)


def _legend(parts: list[str], names: Sequence[str], y: float) -> None:
    x = 0.0
    for index, name in enumerate(names):
        parts.append(f'<rect x="{x:g}" y="{y - 11:g}" width="12" height="12" fill="{COLOURS[index % len(COLOURS)]}"/>')
        parts.append(_text(x + 16, y, name, size=12))
        x += 24 + 7 * len(name)


def column_chart(columns: Sequence[tuple[str, dict[str, int]]], *, title: str) -> Markup:
    """Stacked columns, one per ``(label, {series: count})`` (a day's requests by channel),
    the series coloured in the order they first appear, with a legend; a label under every
    column when there is room, else under every seventh; the largest total at the top."""
    names = list(dict.fromkeys(name for _, counts in columns for name in counts))
    top = max((sum(c.values()) for _, c in columns), default=0) or 1
    width = LABEL + WIDTH + 50
    step = (width - 30) / max(len(columns), 1)
    every = 1 if step >= 36 else max(7, math.ceil(36 / step))  # a year's days: a label a fortnight or so
    parts = _open(title, width, HEIGHT + 60)
    parts.append(_text(0, 12, top, size=11, fill="#555"))
    parts.append(f'<line x1="24" y1="{HEIGHT + 8}" x2="{width}" y2="{HEIGHT + 8}" stroke="{GREY}"/>')
    for index, (label, counts) in enumerate(columns):
        x, base = 30 + index * step, float(HEIGHT + 8)
        for s, name in enumerate(names):
            h = HEIGHT * counts.get(name, 0) / top
            if h:
                base -= h
                parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                             f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(label)}: {escape(name)} '
                             f'{counts[name]}</title></rect>')
        if index % every == 0:
            parts.append(_text(x + step / 2, HEIGHT + 24, label, size=11, anchor="middle"))
    _legend(parts, names, HEIGHT + 50)
    return _done(parts)


def line_chart(points: Sequence[tuple[str, float | None]], *, title: str, low: float, high: float) -> Markup:
    """A line through ``(label, value)`` points on a ``low..high`` scale (the CSAT score,
    1-5), a dot and the value at each; None leaves a gap in the line."""
    width = LABEL + WIDTH + 50
    step = (width - 70) / max(len(points) - 1, 1)
    parts = _open(title, width, HEIGHT + 40)
    for mark in (low, high):
        y = 10 + HEIGHT * (high - mark) / (high - low)
        parts.append(f'<line x1="28" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#e1e5ea"/>')
        parts.append(_text(0, y + 4, f"{mark:g}", size=11, fill="#555"))
    runs: list[list[str]] = [[]]  # the line's unbroken pieces (None breaks it)
    dots: list[str] = []
    for index, (label, value) in enumerate(points):
        x = 34 + index * step
        parts.append(_text(x, HEIGHT + 32, label, size=11, anchor="middle"))
        if value is None:
            runs.append([])
            continue
        y = 10 + HEIGHT * (high - min(max(value, low), high)) / (high - low)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLOURS[0]}"/>')
        dots.append(_text(x, y - 8, f"{value:.1f}", size=11, anchor="middle"))
    parts += [f'<polyline points="{" ".join(run)}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>'
              for run in runs if len(run) > 1]
    parts += dots
    return _done(parts)
