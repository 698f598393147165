"""Is this message about a request already open? Pure: no store, no I/O.

Three signs, strongest first, each naming itself in the decision:

1. a Message-ID in In-Reply-To / References that notify sent about a request
   (``notify_outbox.message_id``) — the customer answered our mail;
2. the CRM's number in the subject: ``[CRM-0000042]``, ``CRM-0000042``,
   ``Обращение № 0000042`` / ``Request No. 0000042`` — the customer quoted it;
3. a repeat contact: the same customer wrote about the same topic — the subject without
   ``Re:``/``Fwd:`` and brackets has the same word stems and numbers («Не проходит
   оплата» = «RE: не проходит оплаты») — while their request is open and their last
   message about it was within the window: linked and counted, not opened twice. Only an
   equal topic counts: a false repeat would hide a request, a missed one opens a duplicate.

Example::

    thread_of(inbound_refs, subject, sent={"<a1@x>": 42}, numbers={"CRM-0000042": 42})
    # Threaded(ticket_id=42, rule="reply to <a1@x>", repeat=False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from intake.classify import stems

__all__ = ["OpenRequest", "Threaded", "numbers_in", "repeat_of", "thread_of", "topic", "topic_key"]

_NUMBER = re.compile(r"\b([A-ZА-Я]{2,5})-(\d{4,10})\b")
_NUMBERED = re.compile(r"(?:Обращени[еюя]|Заявк[аиу]|Request|Ticket)\s*(?:№|No\.?|#)\s*([A-ZА-Я]{2,5}-)?(\d{4,10})",
                       re.IGNORECASE)
_PREFIX = re.compile(r"^\s*((re|fwd?|ответ|пересл|aw|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def numbers_in(subject: str, *, prefix: str = "CRM") -> list[str]:
    """The request numbers a subject names, as the CRM writes them (``CRM-0000042``)."""
    found = [f"{p}-{n}" for p, n in _NUMBER.findall(subject)]
    for given, digits in _NUMBERED.findall(subject):
        found.append(f"{given.rstrip('-') or prefix}-{digits}")
    return list(dict.fromkeys(found))


@lru_cache(maxsize=8192)
def topic_key(subject: str) -> frozenset[str]:
    """What two subjects on one topic share: the stems of the words and the numbers.

    Kept per subject: ``repeat_of`` compares a message with each of its customer's open
    requests, so a customer with many open requests had each request's subject stemmed
    again for every new message (56,537 times for 1,000 messages from the bench's few
    senders, a third of the decide step's CPU).
    """
    bare = topic(subject)
    return frozenset(stems(bare)) | frozenset(re.findall(r"\d+", bare))


def topic(subject: str) -> str:
    """A subject without reply/forward prefixes, numbers in brackets and case: the topic."""
    bare = _PREFIX.sub("", subject)
    bare = re.sub(r"\[[^\]]*\]", " ", bare)
    return " ".join(bare.lower().split())


@dataclass(frozen=True)
class Threaded:
    ticket_id: int
    rule: str
    repeat: bool = False


def thread_of(references: Sequence[str], subject: str, *, sent: Mapping[str, int],
              numbers: Mapping[str, int], prefix: str = "CRM") -> Threaded | None:
    """The request a reply belongs to, by our Message-IDs first, then the number in the subject.

    `sent`: notify's Message-ID → request id (for the ids in `references`); `numbers`: a
    request number → request id (for the numbers in `subject`)."""
    for ref in references:
        if ref in sent:
            return Threaded(sent[ref], f"reply to our mail {ref}")
    for number in numbers_in(subject, prefix=prefix):
        if number in numbers:
            return Threaded(numbers[number], f"number {number} in the subject")
    return None


@dataclass(frozen=True)
class OpenRequest:
    ticket_id: int
    subject: str
    last_contact: datetime  # the customer's last message about it (or its opening)


def repeat_of(subject: str, at: datetime, open_requests: Sequence[OpenRequest], window: timedelta) -> Threaded | None:
    """The customer's open request this message repeats: same topic, within `window` of
    its last contact. The most recent such request wins."""
    wanted = topic_key(subject)
    if not wanted:
        return None
    for request in sorted(open_requests, key=lambda r: r.last_contact, reverse=True):
        if at - request.last_contact > window:
            continue
        if topic_key(request.subject) == wanted:
            return Threaded(request.ticket_id, f"repeat contact: same topic «{topic(request.subject)}» within {window}",
                            repeat=True)
    return None
