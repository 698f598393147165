"""Selectors: where a value sits in a REST answer, written as a dotted path.

``_embedded.leads`` (amoCRM's HAL envelope), ``result`` (Bitrix24), ``data.items``,
``_links.next.href``, ``result.0.ID`` (a list index is a number). The empty path is the
whole body. A path that does not lead anywhere gives ``MISSING``, so "the key is absent"
and "the key holds null" stay apart (an envelope without its key is a malformed answer;
a null next link is the last page).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MISSING", "parse_path", "select"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def parse_path(path: str) -> tuple[str | int, ...]:
    """``"_embedded.leads.0"`` → ``("_embedded", "leads", 0)``; ``""`` → ``()``.

    Raises:
        ValueError: an empty step (``a..b``, a leading or trailing dot).
    """
    if path in ("", "."):
        return ()
    steps = path.split(".")
    if any(step == "" for step in steps):
        msg = f"{path!r}: a selector is keys joined by dots, e.g. _embedded.leads or result.0.ID (no empty step)"
        raise ValueError(msg)
    return tuple(int(step) if step.isdigit() else step for step in steps)


def select(body: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path` in `body`, or ``MISSING``."""
    here = body
    for step in path:
        if isinstance(step, int) and isinstance(here, list):
            if step >= len(here):
                return MISSING
            here = here[step]
        elif isinstance(here, dict) and str(step) in here:
            here = here[str(step)]
        else:
            return MISSING
    return here
