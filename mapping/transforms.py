"""The safe transform library: small pure functions from one value to one value.

An addon can add its own with ``registry.add(fn, usage="mapping.transform", name="x")``.
Every transform passes ``None`` through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["BUILTIN_TRANSFORMS", "Transform"]

Transform = Callable[[Any], Any]


def _strip(value: Any) -> Any:
    # 1C pads fixed-length strings with spaces.
    return value.strip() if isinstance(value, str) else value


def _empty_to_none(value: Any) -> Any:
    return None if value in ("", [], {}) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _digits(value: Any) -> Any:
    return re.sub(r"\D", "", value) if isinstance(value, str) else value


def _phone_e164(value: Any) -> Any:
    """Russian numbers to E.164: ``8 (812) 555-01-02`` → ``+78125550102``."""
    if not isinstance(value, str) or not value.strip():
        return None if value == "" else value
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10:
        return "+7" + digits
    return "+" + digits if value.strip().startswith("+") else digits


BUILTIN_TRANSFORMS: dict[str, Transform] = {
    "strip": _strip,
    "empty_to_none": _empty_to_none,
    "lower": _lower,
    "upper": _upper,
    "digits": _digits,
    "phone_e164": _phone_e164,
}
