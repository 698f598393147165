"""Signed links for customers: what a link may show, to whom, until when.

A link in a customer's mail (the personal cabinet, a survey, unsubscribe) carries a token
that says its **purpose**, its **subject** (``request:42`` or ``contact:7``) and its
**expiry**, signed with HMAC-SHA256 under the ``links.secret`` of the configuration. notify
makes the links, the web addon checks them; neither trusts anything the token says until
its signature holds::

    token = sign(secret, "cabinet", "contact:7", expires=now + timedelta(days=30))
    link = verify(secret, token, "cabinet", now)        # Link(purpose, subject, expires)
    verify(secret, token, "rating", now)                # LinkNotForThis: another purpose

The token is ``<payload>.<mac>``, both base64url: the payload is readable (it holds ids,
never a secret) and the MAC is over a versioned prefix and the payload, so a token of
another product with the same key does not verify here. Pure: no clock, no I/O.

::

    links:
      secret: ${CRM_BRIDGE_LINK_SECRET}   # 32+ characters; changing it voids every link sent
      ttl_days: 30                        # how long a link in a mail stays valid
      base_url: https://support.example.ru   # where the web addon answers (crm-bridge web)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from crm_bridge.config import Strict
from crm_bridge.errors import BridgeError, ConfigError

__all__ = ["MIN_SECRET", "PURPOSES", "Link", "LinkExpired", "LinkForged", "LinkNotForThis", "LinkRefused",
           "LinksConfig", "PAGES", "link_url", "require_secret", "sign", "verify"]

#: What a link may be for; a token names one of these, and a page accepts only its own.
PURPOSES = ("cabinet", "rating", "unsubscribe", "preferences", "close", "reopen", "session", "submission")
MIN_SECRET = 32  # characters: HMAC-SHA256 keys shorter than this are guessable
_PREFIX = b"crm-bridge.link.v1\x00"
_SUBJECT = re.compile(r"[a-z_]+:[A-Za-z0-9_.@+-]{1,200}")


class LinkRefused(BridgeError):
    """A token that does not open its page; ``status`` is the HTTP answer (403 or 410).
    The message names the purpose and subject when they are known, never the token."""

    status: ClassVar[int] = 403
    reason: ClassVar[str] = "refused"


class LinkForged(LinkRefused):
    """Not made with this key (a changed character, another installation, garbage)."""

    reason = "forged"


class LinkExpired(LinkRefused):
    """Made here but past its expiry: the customer needs a newer mail."""

    status = 410
    reason = "expired"


class LinkNotForThis(LinkRefused):
    """Made here for another purpose or another request/contact than the page asks for."""

    reason = "not_for_this"


@dataclass(frozen=True, slots=True)
class Link:
    """What a verified token says."""

    purpose: str
    subject: str
    expires: datetime

    @property
    def kind(self) -> str:
        """``request`` or ``contact`` (the part of the subject before the colon)."""
        return self.subject.partition(":")[0]

    @property
    def ident(self) -> str:
        return self.subject.partition(":")[2]


class LinksConfig(Strict):
    """The ``links:`` section: the key that signs customer links and their default life."""

    secret: SecretStr | None = None
    ttl_days: int = Field(default=30, ge=1, le=3650)
    base_url: str = "http://127.0.0.1:8080"

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            msg = "must be an http(s) URL where `crm-bridge web` answers, e.g. https://support.example.ru"
            raise ValueError(msg)
        return value.rstrip("/")

    @property
    def ttl(self) -> timedelta:
        return timedelta(days=self.ttl_days)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET:
            msg = (f"is {len(value.get_secret_value())} characters; use at least {MIN_SECRET} random ones, e.g. "
                   "the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
            raise ValueError(msg)
        return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, _PREFIX + payload.encode(), hashlib.sha256).digest()


def sign(secret: bytes | str, purpose: str, subject: str, *, expires: datetime) -> str:
    """A token for `purpose` on `subject` (``request:42``, ``contact:7``) valid until `expires`.

    Raises:
        ValueError: an unknown purpose, a subject not of the form ``kind:id``, a naive `expires`.
    """
    if purpose not in PURPOSES:
        msg = f"no link purpose {purpose!r}; purposes: {', '.join(PURPOSES)}"
        raise ValueError(msg)
    if not _SUBJECT.fullmatch(subject):
        msg = f"link subject {subject!r} is not of the form kind:id (request:42, contact:7)"
        raise ValueError(msg)
    if expires.tzinfo is None:
        msg = "a link's expiry must be an aware datetime"
        raise ValueError(msg)
    key = secret.encode() if isinstance(secret, str) else secret
    payload = _b64(f"{purpose}|{subject}|{int(expires.timestamp())}".encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def verify(secret: bytes | str, token: str, purpose: str, now: datetime, *, subject: str | None = None) -> Link:
    """What `token` says, once its signature, purpose, subject and expiry hold at `now`.

    Args:
        subject: the request or contact the page shows, when the URL names one besides
            the token; a token for any other subject is refused.

    Raises:
        LinkForged: the signature does not hold (403).
        LinkNotForThis: signed here, for another purpose or subject (403).
        LinkExpired: signed here, past its expiry (410).
    """
    key = secret.encode() if isinstance(secret, str) else secret
    payload, _, mac = token.partition(".")
    # compared as text: base64 decoding would skip stray characters and accept a changed token
    if not hmac.compare_digest(mac.encode(), _b64(_mac(key, payload)).encode()):
        raise LinkForged(f"a {purpose} link with a signature that does not hold")
    # the MAC holds: the payload is ours, its format is not in question
    got_purpose, got_subject, stamp = _unb64(payload).decode().split("|")
    link = Link(got_purpose, got_subject, datetime.fromtimestamp(int(stamp), UTC))
    if link.purpose != purpose:
        raise LinkNotForThis(f"a {link.purpose} link for {link.subject} opened as a {purpose} link")
    if subject is not None and link.subject != subject:
        raise LinkNotForThis(f"a {purpose} link for {link.subject} opened for {subject}")
    if now >= link.expires:
        raise LinkExpired(f"a {purpose} link for {link.subject} expired at {link.expires.isoformat()}")
    return link


#: The page of each purpose on the web addon, relative to ``links.base_url``.
PAGES = {"cabinet": "/cabinet/{token}", "rating": "/rate/{token}", "unsubscribe": "/unsubscribe/{token}",
         "preferences": "/cabinet/{token}", "close": "/close/{token}", "reopen": "/reopen/{token}"}


def link_url(config: LinksConfig, purpose: str, subject: str, now: datetime, *, ttl: timedelta | None = None) -> str:
    """The URL a mail gives the customer: ``links.base_url`` + the purpose's page, with a
    token valid for `ttl` (default ``links.ttl_days``) from `now`.

    Raises:
        ConfigError: ``links.secret`` is not configured.
    """
    key = require_secret(config, f"a {purpose} link")
    token = sign(key, purpose, subject, expires=now + (ttl or config.ttl))
    return config.base_url + PAGES[purpose].format(token=token)


def require_secret(config: LinksConfig, where: str, *, file: str = "") -> bytes:
    """The key of `config`; a ConfigError naming the configuration `file` and `where` (the
    feature that needs it) if unset."""
    if config.secret is None:
        place = f"{file}: " if file else ""
        raise ConfigError(f"{place}links.secret: not set, and {where} needs it to sign customer links; add "
                          "`links: {secret: ${CRM_BRIDGE_LINK_SECRET}}` (32+ random characters)")
    return config.secret.get_secret_value().encode()
