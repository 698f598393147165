"""Type and priority at intake from ordered, explainable rules. Pure: no store, no I/O.

Rules are tried in the order the configuration lists them. The first rule that matches
and sets ``type`` decides the type; the first that matches and sets ``priority`` decides
the priority (one rule may decide both). What is not decided takes the defaults. Each
decision names its rule and what matched, so ``crm-bridge intake explain`` can say why.

Keywords are compared by stem (Snowball, Russian and English): «не работает оплата»
matches the keyword «оплаты», "payments failing" matches "payment fail".

Example::

    rules = compile_rules(config.rules)
    decided = classify(rules, Facts(subject="Не проходит оплата", text="...", channel="email"))
    decided.type, decided.type_rule        # "technical_problem", "payment: keyword «оплата»"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

__all__ = ["Classified", "CompiledRule", "Facts", "classify", "compile_rule", "stems"]

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_RU = snowballstemmer.stemmer("russian")
_EN = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65_536)
def _stem(word: str) -> str:
    word = word.lower().replace("ё", "е")
    return str((_RU if re.search("[а-я]", word) else _EN).stemWord(word))


def stems(text: str) -> list[str]:
    """The stems of the words of `text`, in order."""
    return [_stem(w) for w in _WORD.findall(text)]


@dataclass(frozen=True)
class Facts:
    subject: str
    text: str
    channel: str = "email"
    sender: str = ""
    customer_id: int | None = None
    contract: str | None = None
    segment: str | None = None


@dataclass(frozen=True)
class CompiledRule:
    name: str
    keywords: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (as written, its stems): a phrase matches as a run
    channels: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()  # addresses, or "@domain.ru"
    customers: frozenset[int] = frozenset()
    contracts: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    subject: re.Pattern[str] | None = None
    type: str | None = None
    priority: str | None = None

    def matches(self, facts: Facts, words: Sequence[str]) -> str | None:
        """What of `facts` made the rule match, in words; None when it does not."""
        said: list[str] = []
        if self.channels:
            if facts.channel not in self.channels:
                return None
            said.append(f"channel {facts.channel}")
        if self.senders:
            domain = "@" + facts.sender.split("@")[-1]
            if facts.sender not in self.senders and domain not in self.senders:
                return None
            said.append(f"sender {facts.sender}")
        if self.customers:
            if facts.customer_id not in self.customers:
                return None
            said.append(f"customer #{facts.customer_id}")
        if self.contracts:
            if facts.contract not in self.contracts:
                return None
            said.append(f"contract {facts.contract}")
        if self.segments:
            if facts.segment not in self.segments:
                return None
            said.append(f"segment {facts.segment}")
        if self.subject is not None:
            if not self.subject.search(facts.subject):
                return None
            said.append(f"subject ~ /{self.subject.pattern}/")
        if self.keywords:
            hit = next((shown for shown, run in self.keywords if _contains(words, run)), None)
            if hit is None:
                return None
            said.append(f"keyword «{hit}»")
        return ", ".join(said) or "always"


def _contains(words: Sequence[str], run: tuple[str, ...]) -> bool:
    n = len(run)
    return any(tuple(words[i:i + n]) == run for i in range(len(words) - n + 1))


def compile_rule(name: str, *, keywords: Iterable[str] = (), channels: Iterable[str] = (), senders: Iterable[str] = (),
                 customers: Iterable[int] = (), contracts: Iterable[str] = (), segments: Iterable[str] = (),
                 subject: str | None = None, type: str | None = None, priority: str | None = None) -> CompiledRule:  # noqa: A002
    return CompiledRule(
        name, tuple((k, tuple(stems(k))) for k in keywords if stems(k)), frozenset(channels),
        frozenset(s.lower() for s in senders), frozenset(customers), frozenset(contracts), frozenset(segments),
        re.compile(subject, re.IGNORECASE) if subject else None, type, priority)


@dataclass(frozen=True)
class Classified:
    type: str
    priority: str
    type_rule: str  # "payment: keyword «оплата»" or "default"
    priority_rule: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "priority": self.priority, "type_rule": self.type_rule,
                "priority_rule": self.priority_rule}


def classify(rules: Sequence[CompiledRule], facts: Facts, *, default_type: str = "other",
             default_priority: str = "normal") -> Classified:
    """The type and priority the first deciding rules give `facts` (see the module doc)."""
    words = stems(f"{facts.subject}\n{facts.text}")
    type_: tuple[str, str] | None = None
    priority: tuple[str, str] | None = None
    for rule in rules:
        if (rule.type is None or type_ is not None) and (rule.priority is None or priority is not None):
            continue  # nothing left for this rule to decide
        why = rule.matches(facts, words)
        if why is None:
            continue
        if rule.type is not None and type_ is None:
            type_ = (rule.type, f"{rule.name}: {why}")
        if rule.priority is not None and priority is None:
            priority = (rule.priority, f"{rule.name}: {why}")
        if type_ is not None and priority is not None:
            break
    return Classified(type_[0] if type_ else default_type, priority[0] if priority else default_priority,
                      type_[1] if type_ else "default", priority[1] if priority else "default")
