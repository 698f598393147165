"""What an answer means: data, or an error to retry, fail on, ignore, or log in again for.

The connector's own ``errors`` rules are tried first, in order (Bitrix24 answers a rate
limit as 503 with ``QUERY_LIMIT_EXCEEDED`` in the body, a CRM may say "no credential"
with 403); then the defaults every HTTP API shares: 429 and 5xx are retried, 401 logs in
again once, other 4xx fail. A 2xx whose body is not JSON (a proxy's HTML login page, a
truncated answer) is an error, never data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from adapters.generic_rest.connector import ErrorRule
from adapters.generic_rest.select import parse_path, select

__all__ = ["Verdict", "judge"]

Action = Literal["ok", "retry", "fail", "ignore", "reauth"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    body: Any = None  # the parsed JSON ("ok")
    reason: str = ""  # why, for the log and the parked row: the CRM's own words where it gave some
    wait: float | None = None  # seconds the rule asks for


def _parse(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text) if text.strip() else None
    except ValueError:
        return False, None


def _said(body: Any, text: str) -> str:
    """The CRM's message: common error keys (``error_description``, ``error``, ``message``,
    ``detail``, ``title``), else the start of the body."""
    if isinstance(body, dict):
        for key in ("error_description", "message", "detail", "title", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    short = " ".join(text.split())[:200]
    return short or "(empty answer)"


def _matches(rule: ErrorRule, status: int, text: str, body: Any) -> bool:
    if rule.status and status not in rule.status:
        return False
    if rule.body_contains is not None and rule.body_contains not in text:
        return False
    return all(select(body, parse_path(path)) == value for path, value in rule.json_.items())


def judge(status: int, headers: Mapping[str, str], text: str, rules: Sequence[ErrorRule]) -> Verdict:
    """The verdict on one answer (`text` is its decoded body)."""
    parsed, body = _parse(text)
    for rule in rules:
        if _matches(rule, status, text, body):
            said = rule.say or _said(body, text)
            return Verdict(rule.action, body if rule.action == "ignore" else None, f"HTTP {status}: {said}", rule.wait)
    if 200 <= status < 300:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if not parsed or "html" in content_type.lower():
            return Verdict("retry", reason=f"HTTP {status} but the body is not JSON ({content_type or 'no content type'}): "
                                           f"{_said(None, text)[:80]}")
        return Verdict("ok", body)
    said = _said(body, text)
    if status == 401:
        return Verdict("reauth", reason=f"HTTP 401: {said}")
    if status in (408, 425, 429) or status >= 500:
        return Verdict("retry", reason=f"HTTP {status}: {said}")
    return Verdict("fail", reason=f"HTTP {status}: {said}")
