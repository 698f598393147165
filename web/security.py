"""Who is asking, and whether a form came from our own page: passwords, sessions, CSRF,
the trusted proxy header and the headers every answer carries. Pure but for the
password hashing (Argon2, deliberately slow): no clock, no I/O.

* A **session** is a cookie signed like a customer link (``crm_bridge.links.sign``, purpose
  ``session``, subject ``user:<login>``) under ``web.session_secret``, with an expiry: a
  changed or old cookie is no session. Nothing is kept on the server (no revocation: a
  login lasts at most ``web.session_hours``).
* **CSRF**: every visitor gets a random nonce cookie; each form carries
  HMAC(``session_secret``, nonce). A POST whose field does not match its own cookie's
  nonce is refused, so a page on another site cannot post for a logged-in supervisor
  (it can neither read our cookie nor forge the MAC for a cookie it planted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crm_bridge.links import LinkRefused, sign, verify
from web.settings import WebConfig

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "HEADERS", "SESSION_COOKIE", "check_password", "csrf_ok", "csrf_token",
           "hash_password", "new_nonce", "open_session", "proxy_user", "session_user"]

SESSION_COOKIE = "crmb_session"
CSRF_COOKIE = "crmb_csrf"
CSRF_FIELD = "csrf"

#: On every answer. No script runs on these pages at all; styles only from our own file.
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # a customer's signed link must not leak to another site
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` for ``web.users.<login>.password_hash``."""
    return _hasher().hash(password)


@cache
def _decoy() -> str:
    return hash_password(secrets.token_urlsafe(16))


def check_password(config: WebConfig, login: str, password: str) -> bool:
    """Whether `login` is a configured user and `password` is theirs. An unknown login
    costs one Argon2 check too, so the answer's time does not tell which logins exist."""
    user = config.users.get(login)
    stored = user.password_hash.get_secret_value() if user is not None else _decoy()
    try:
        ok = _hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and user is not None


def _key(config: WebConfig) -> bytes:
    if config.session_secret is None:  # settings require it once users or proxy are configured
        msg = "web.session_secret is not set"
        raise RuntimeError(msg)
    return config.session_secret.get_secret_value().encode()


def open_session(config: WebConfig, login: str, now: datetime) -> str:
    """The session cookie's value for `login`, valid ``session_hours`` from `now`."""
    return sign(_key(config), "session", f"user:{login}", expires=now + timedelta(hours=config.session_hours))


def session_user(config: WebConfig, cookie: str | None, now: datetime) -> str | None:
    """The login a session cookie names while it is valid and its user still configured."""
    if not cookie or not config.login_enabled:
        return None
    try:
        link = verify(_key(config), cookie, "session", now)
    except LinkRefused:
        return None
    login = link.ident
    return login if login in config.users else None  # only a password login makes a session


def proxy_user(config: WebConfig, client: str | None, header: str | None) -> str | None:
    """The login the trusted reverse proxy names; None if no proxy is configured, the request
    did not come from a trusted address, or the header is empty."""
    if config.proxy is None or not header or not header.strip() or not config.proxy.admits(client):
        return None
    return header.strip()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def csrf_token(config: WebConfig, nonce: str) -> str:
    """The form field for the visitor whose CSRF cookie holds `nonce`."""
    key = _key(config) if config.session_secret is not None else b"no-login-configured"
    mac = hmac.new(key, f"csrf:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_ok(config: WebConfig, nonce: str | None, given: str | None) -> bool:
    """Whether a POST's form field `given` belongs to the cookie's `nonce`."""
    if not nonce or not given:
        return False
    return hmac.compare_digest(given.encode(), csrf_token(config, nonce).encode())
