"""The language a request is handled in, and the rule condition on it.

The canonical request has no language field, and neither does the customer. So the
language is derived, first found wins:

1. a tag ``lang:<code>`` on the request (a mapping can put one there from a CRM field,
   e.g. ``tags: {from: Язык, transform: "lang:{}"}``);
2. the customer's segment, by ``routing.customer_language.segments`` (the same table the
   notify addon's ``customer.segments`` keeps: copy it, as routing does not read notify's
   section — the engines do not depend on one another);
3. ``routing.customer_language.default``; none: the language is unknown (``None``).

Unknown matches no ``language`` condition and restricts no agent. Known, it is matched by
a rule's ``match: {language: [en]}`` and against the agents' ``languages`` when an agent
lists some (an agent who lists none is not restricted)::

    routing:
      customer_language: {default: ru, segments: {international: en}}
      rules:
        - {name: english, match: {language: [en]}, team: L2}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator

from crm_bridge.config import Strict
from sla.policy import Match

__all__ = ["CustomerLanguage", "RoutingMatch", "language_of"]

_TAG = "lang:"


def _code(value: str) -> str:
    return value.strip().lower()


class CustomerLanguage(Strict):
    """Where a request's language comes from when no ``lang:`` tag says it: the customer's
    segment, else `default` (None: unknown)."""

    default: str | None = Field(default=None, min_length=2, max_length=10)
    segments: dict[str, str] = {}

    @field_validator("segments")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: _code(v) for k, v in value.items()}


def language_of(tags: Iterable[str], segment: str | None, rules: CustomerLanguage | None) -> tuple[str | None, str]:
    """The request's language and where it came from ("tag lang:en", "segment international",
    "default", "unknown"), for the explanation."""
    for tag in tags:
        if tag.lower().startswith(_TAG) and tag[len(_TAG):].strip():
            return _code(tag[len(_TAG):]), f"tag {tag}"
    if rules is None:
        return None, "unknown"
    if segment is not None and segment in rules.segments:
        return rules.segments[segment], f"segment {segment}"
    if rules.default is not None:
        return _code(rules.default), "default"
    return None, "unknown"


class RoutingMatch(Match):
    """The SLA policies' conditions plus ``language`` (any of; derived, see the module),
    which a ``when`` may use too: ``when: "language == 'en' and priority == 'urgent'"``."""

    language: list[str] | None = None
    when_fields: ClassVar[tuple[str, ...]] = (*Match.when_fields, "language")

    @field_validator("language")
    @classmethod
    def _lower(cls, value: list[str] | None) -> list[str] | None:
        return [_code(v) for v in value] if value is not None else None

    def why_not(self, facts: Mapping[str, Any]) -> str | None:
        """As ``Match.why_not``, the language first (facts key ``language``)."""
        if self.language is not None and facts.get("language") not in self.language:
            return f"language is {facts.get('language')!r}, not one of {', '.join(self.language)}"
        return super().why_not(facts)
