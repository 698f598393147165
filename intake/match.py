"""Who wrote: the sender matched to a synced customer or contact. Pure: no store, no I/O.

Keys, strongest first: the e-mail address (exact, lower-cased), a phone number written
in the message (normalised: ``+7 (495) 123-45-67``, ``8 495 1234567`` and ``84951234567``
are all ``74951234567``), a tax id (ИНН, 10 or 12 digits, checksum valid). The first key
that finds anyone decides; it finds

* one customer (one contact or none of it) — matched, with the rule;
* several customers — ambiguous: the message goes to the review queue, never a guess;
* nobody, on every key — a new contact (the decision says so).

``ContactIndex`` is built once from the store's rows, so a message costs a few dict
look-ups, not a scan of every contact (``benchmarks/intake_bench.py`` measures both).

Example::

    index = ContactIndex.build(customers, contacts)
    decision = match_sender(index, "ivanova@romashka.ru", text)
    decision.outcome, decision.rule      # "matched", "email"
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ContactIndex", "Known", "MatchDecision", "find_phones", "find_tax_ids", "match_sender",
           "normalise_phone", "valid_inn"]

_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_PHONE = re.compile(r"(?<![\d+])(?:\+7|8|7)[\s\-]*\(?\d{3}\)?[\s\-]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}(?!\d)")
_TAX = re.compile(r"(?<!\d)(\d{12}|\d{10})(?!\d)")


def valid_inn(value: str) -> bool:
    """Whether `value` is an ИНН: 10 digits (organisation) or 12 (person), check digits right."""
    if not value.isdigit() or len(value) not in (10, 12):
        return False
    digits = [int(c) for c in value]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if len(value) == 10:
        return check(_INN10) == digits[9]
    return check(_INN11) == digits[10] and check(_INN12) == digits[11]


def normalise_phone(value: str) -> str | None:
    """A Russian number as 11 digits starting with 7 (``74951234567``), else None.
    A leading 8 is the domestic prefix for +7; a bare 10-digit number gets the 7."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 10:
        digits = "7" + digits
    if len(digits) == 11 and digits[0] in "78":
        return "7" + digits[1:]
    return None


def find_phones(text: str) -> list[str]:
    """The normalised phone numbers written in `text`, in order, once each."""
    found = (normalise_phone(m.group(0)) for m in _PHONE.finditer(text))
    return list(dict.fromkeys(p for p in found if p))


def find_tax_ids(text: str) -> list[str]:
    """The valid ИНН written in `text` (a 10/12-digit run with right check digits)."""
    return list(dict.fromkeys(m.group(1) for m in _TAX.finditer(text) if valid_inn(m.group(1))))


@dataclass(frozen=True)
class Known:
    """A customer, or a contact (with its customer, if any), a key can find."""

    customer_id: int | None
    contact_id: int | None = None


@dataclass
class ContactIndex:
    """Keys → who holds them, built once from the synced customers and contacts."""

    by_email: dict[str, set[Known]] = field(default_factory=dict)
    by_phone: dict[str, set[Known]] = field(default_factory=dict)
    by_tax_id: dict[str, set[Known]] = field(default_factory=dict)

    def add(self, known: Known, *, email: str | None = None, phone: str | None = None, tax_id: str | None = None) -> None:
        if email and "@" in email:
            self.by_email.setdefault(email.strip().lower(), set()).add(known)
        if phone and (number := normalise_phone(phone)):
            self.by_phone.setdefault(number, set()).add(known)
        if tax_id and tax_id.strip():
            self.by_tax_id.setdefault(tax_id.strip(), set()).add(known)

    @classmethod
    def build(cls, customers: Iterable[tuple[int, str | None, str | None, str | None]],
              contacts: Iterable[tuple[int, int | None, str | None, str | None]]) -> ContactIndex:
        """From ``(id, email, phone, tax_id)`` customers and ``(id, customer_id, email, phone)`` contacts."""
        index = cls()
        for cid, email, phone, tax_id in customers:
            index.add(Known(cid), email=email, phone=phone, tax_id=tax_id)
        for kid, customer_id, email, phone in contacts:
            index.add(Known(customer_id, kid), email=email, phone=phone)
        return index


Outcome = Literal["matched", "ambiguous", "new"]


@dataclass(frozen=True)
class MatchDecision:
    outcome: Outcome
    rule: str  # "email", "phone 74951234567", "tax_id 7707083893", "no key matched"
    customer_id: int | None = None
    contact_id: int | None = None
    candidates: tuple[Known, ...] = ()  # ambiguous: whom the key found

    def explain(self) -> str:
        if self.outcome == "matched":
            return f"matched by {self.rule}"
        if self.outcome == "ambiguous":
            return f"{self.rule} found {len({c.customer_id for c in self.candidates})} customers: review"
        return "no customer or contact has this address, phone or ИНН: a new contact"


def _decide(rule: str, found: set[Known]) -> MatchDecision | None:
    if not found:
        return None
    customers = {k.customer_id for k in found}
    if len(customers) > 1:
        ordered = tuple(sorted(found, key=lambda k: (k.customer_id or 0, k.contact_id or 0)))
        return MatchDecision("ambiguous", rule, candidates=ordered)
    contacts = sorted(k.contact_id for k in found if k.contact_id is not None)
    customer = customers.pop()
    if len(contacts) > 1:  # two contacts of one customer share the key: the customer is sure, the person is not
        return MatchDecision("matched", rule, customer, None)
    return MatchDecision("matched", rule, customer, contacts[0] if contacts else None)


def match_sender(index: ContactIndex, email: str, text: str = "") -> MatchDecision:
    """Decide who sent a message from its address and the phones and ИНН in `text`."""
    if email and (found := _decide("email", index.by_email.get(email.lower(), set()))):
        return found
    for phone in find_phones(text):
        if found := _decide(f"phone {phone}", index.by_phone.get(phone, set())):
            return found
    for tax_id in find_tax_ids(text):
        if found := _decide(f"tax_id {tax_id}", index.by_tax_id.get(tax_id, set())):
            return found
    return MatchDecision("new", "no key matched")


def match_by_scanning(customers: list[tuple[int, str | None, str | None, str | None]],
                      contacts: list[tuple[int, int | None, str | None, str | None]], email: str, text: str = "") -> MatchDecision:
    """The naive alternative the benchmark compares with: every customer and contact
    scanned for each key of each message (same decisions as ``match_sender``)."""
    wanted = email.lower()
    found = {Known(cid) for cid, mail, _, _ in customers if mail and mail.strip().lower() == wanted}
    found |= {Known(customer_id, kid) for kid, customer_id, mail, _ in contacts if mail and mail.strip().lower() == wanted}
    if wanted and (decided := _decide("email", found)):
        return decided
    for phone in find_phones(text):
        found = {Known(cid) for cid, _, number, _ in customers if number and normalise_phone(number) == phone}
        found |= {Known(customer_id, kid) for kid, customer_id, _, number in contacts if number and normalise_phone(number) == phone}
        if decided := _decide(f"phone {phone}", found):
            return decided
    for tax_id in find_tax_ids(text):
        if decided := _decide(f"tax_id {tax_id}", {Known(cid) for cid, _, _, tin in customers if tin and tin.strip() == tax_id}):
            return decided
    return MatchDecision("new", "no key matched")
