"""KPI errors: what was wrong and what to type instead."""

from __future__ import annotations

from collections.abc import Sequence

from crm_bridge.errors import BridgeError, did_you_mean

__all__ = ["BadPeriod", "KpiError", "UnknownDimension"]


class KpiError(BridgeError):
    """Root of the KPI addon's errors."""


class BadPeriod(KpiError):
    def __init__(self, text: str, why: str) -> None:
        super().__init__(f"period {text!r}: {why}. Give one of: 2026-11 (a month), 2026-Q4 (a quarter), "
                         "2026 (a year), 2026-11-01..2026-11-15 (days, both included), last-30d or last-12h.")
        self.text = text


class UnknownDimension(KpiError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"--by {name!r}: no such dimension.{did_you_mean(name, known)} Choose one of: {', '.join(known)}.")
        self.name, self.known = name, tuple(known)
