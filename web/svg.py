"""Charts drawn on the server as SVG: no script, nothing loaded from elsewhere, and the
page's CSP (``style-src 'self'``) holds because only presentation attributes are used."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart"]

ROW, LABEL, WIDTH = 28, 100, 240  # pixels: one bar's height, the label column, the bars' room (a phone's width)


def bar_chart(rows: Sequence[tuple[str, int, int]], *, title: str) -> Markup:
    """Horizontal bars, one per `rows` entry ``(label, total, alarming)``: the total in grey,
    the alarming part (breached) in red over it; scaled to the largest total."""
    top = max((total for _, total, _ in rows), default=0) or 1
    height = ROW * len(rows) + 8
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {LABEL + WIDTH + 50} {height}" '
             'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    for index, (label, total, alarming) in enumerate(rows):
        y = 4 + index * ROW
        full, red = round(WIDTH * total / top), round(WIDTH * min(alarming, total) / top)
        parts.append(f'<text x="0" y="{y + 18}" font-size="14" fill="#222">{escape(label)}</text>')
        parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{full}" height="18" fill="#9aa7b8"/>')
        if red:
            parts.append(f'<rect x="{LABEL}" y="{y + 4}" width="{red}" height="18" fill="#c0392b"/>')
        parts.append(f'<text x="{LABEL + full + 6}" y="{y + 18}" font-size="14" fill="#222">{total}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()
