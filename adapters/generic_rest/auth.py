"""Logging in to a REST CRM: static credentials, and OAuth 2.0 tokens kept durably.

Static kinds (bearer, basic, API key, a token in the URL) only add a header or a query
parameter. OAuth kinds fetch an access token and renew it when it expires or when the
CRM answers 401:

* ``oauth2_client_credentials`` asks ``token_url`` for a new one;
* ``oauth2_refresh`` trades the refresh token for a new pair. amoCRM and Bitrix24 make a
  refresh token single-use, so the new pair is written to the ``TokenStore`` — durably,
  ``fsync`` and an atomic rename — *before* the access token is used, and the exchange
  runs under the store's lock so two processes never spend the same refresh token. The
  one window left: the CRM answered with a new pair and the process died before the
  write; the old token is spent and the integration must be authorised again (the error
  says so). ``FileTokens`` is the store of one machine; scale-out workers on several
  machines need a shared one (not built yet).

Tokens never reach logs: errors name the token URL and the CRM's error code only.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import requests

from adapters.generic_rest.connector import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    RefreshTokenAuth,
    UrlTokenAuth,
)
from crm_bridge.errors import RemoteRejected, RemoteUnavailable

__all__ = ["Authenticator", "FileTokens", "MemoryTokens", "StoredToken", "TokenStore"]

EARLY = 60.0  # seconds: an access token this close to its expiry is renewed first


@dataclass(frozen=True)
class StoredToken:
    access_token: str
    refresh_token: str | None
    expires_at: float  # epoch seconds; 0: unknown (used until a 401)


class TokenStore(Protocol):
    def locked(self, backend: str) -> contextlib.AbstractContextManager[None]: ...

    def load(self, backend: str) -> StoredToken | None: ...

    def save(self, backend: str, token: StoredToken) -> None: ...


class MemoryTokens:
    """For tests and for kinds whose tokens need not outlive the process."""

    def __init__(self) -> None:
        self.tokens: dict[str, StoredToken] = {}

    @contextlib.contextmanager
    def locked(self, backend: str) -> Iterator[None]:
        yield

    def load(self, backend: str) -> StoredToken | None:
        return self.tokens.get(backend)

    def save(self, backend: str, token: StoredToken) -> None:
        self.tokens[backend] = token


class FileTokens:
    """Tokens in a JSON file (mode 0600), one entry per backend, locked with ``flock``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self, backend: str) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(self.path.suffix + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _all(self) -> dict[str, Any]:
        try:
            found = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return found if isinstance(found, dict) else {}

    def load(self, backend: str) -> StoredToken | None:
        entry = self._all().get(backend)
        return StoredToken(**entry) if isinstance(entry, dict) else None

    def save(self, backend: str, token: StoredToken) -> None:
        everything = self._all()
        everything[backend] = asdict(token)
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(everything, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)


class Authenticator:
    """Adds the credentials to each request and renews OAuth tokens."""

    def __init__(self, auth: Auth | None, backend: str, session: requests.Session, tokens: TokenStore, *,
                 timeout: float = 30.0, clock: Callable[[], float] = time.time) -> None:
        self.auth, self.backend, self.session, self.tokens = auth, backend, session, tokens
        self.timeout, self.clock = timeout, clock
        self._token: StoredToken | None = None

    def apply(self, headers: MutableMapping[str, str], params: MutableMapping[str, Any]) -> None:
        """Put the credentials on a request about to be sent."""
        match self.auth:
            case BearerAuth():
                headers["Authorization"] = f"Bearer {self.auth.token.get_secret_value()}"
            case BasicAuth():
                pair = f"{self.auth.username}:{self.auth.password.get_secret_value()}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            case ApiKeyAuth():
                (headers if self.auth.where == "header" else params)[self.auth.name] = self.auth.value.get_secret_value()
            case RefreshTokenAuth() if self.auth.token_param:
                params[self.auth.token_param] = self.access_token()  # Bitrix24 apps: ?auth=<access token>
            case ClientCredentialsAuth() | RefreshTokenAuth():
                headers["Authorization"] = f"Bearer {self.access_token()}"
            case UrlTokenAuth() | None:
                pass  # the token is in the URL (see ``url``), or there are no credentials

    def url(self, base_url: str) -> str:
        """`base_url` with a URL token put in (Bitrix24's incoming webhook)."""
        if isinstance(self.auth, UrlTokenAuth):
            return base_url.replace("{token}", self.auth.token.get_secret_value())
        return base_url

    def access_token(self) -> str:
        """A valid access token: the one held, the stored one, or a new one."""
        token = self._token or self.tokens.load(self.backend)
        if token is None or (token.expires_at and token.expires_at - EARLY <= self.clock()):
            token = self.renew(stale=token)
        self._token = token
        return token.access_token

    def renew(self, *, stale: StoredToken | None = None) -> StoredToken:
        """A new access token, after a 401 or an expiry; under the store's lock, so another
        process's fresh token is taken instead of spending the refresh token twice."""
        stale = stale or self._token
        with self.tokens.locked(self.backend):
            stored = self.tokens.load(self.backend)
            if stored is not None and stored != stale and (not stored.expires_at or stored.expires_at - EARLY > self.clock()):
                self._token = stored  # renewed meanwhile by another process
                return stored
            self._token = self._exchange(stored)
            return self._token

    def _exchange(self, stored: StoredToken | None) -> StoredToken:
        auth = self.auth
        refresh: str | None = None
        if isinstance(auth, ClientCredentialsAuth):
            form = {"grant_type": "client_credentials", "client_id": auth.client_id,
                    "client_secret": auth.client_secret.get_secret_value(), **({"scope": auth.scope} if auth.scope else {})}
            url = auth.token_url
        elif isinstance(auth, RefreshTokenAuth):
            refresh = (stored.refresh_token if stored and stored.refresh_token else None) or auth.refresh_token.get_secret_value()
            form = {"grant_type": "refresh_token", "client_id": auth.client_id,
                    "client_secret": auth.client_secret.get_secret_value(), "refresh_token": refresh,
                    **({"redirect_uri": auth.redirect_uri} if auth.redirect_uri else {})}
            url = auth.token_url
        else:
            msg = f"{self.backend}: the CRM refused the credentials (HTTP 401); check them in the connector's auth"
            raise RemoteRejected(msg)
        try:
            if isinstance(auth, RefreshTokenAuth) and auth.token_method == "GET":
                answer = self.session.get(url, params=form, timeout=self.timeout)
            else:
                answer = self.session.post(url, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            msg = f"{self.backend}: could not reach {url} for a token: {type(exc).__name__}"
            raise RemoteUnavailable(msg) from exc
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code >= 500 or answer.status_code == 429:
            msg = f"{self.backend}: {url} answered HTTP {answer.status_code} to a token request; will retry"
            raise RemoteUnavailable(msg)
        if answer.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            code = body.get("error") if isinstance(body, dict) else None
            msg = (f"{self.backend}: {url} refused the token request (HTTP {answer.status_code}"
                   f"{f', {code}' if code else ''}): the refresh token is spent or revoked; authorise the "
                   "integration in the CRM again and put its new refresh token in the connector's auth")
            raise RemoteRejected(msg)
        lifetime = body.get("expires_in")
        token = StoredToken(str(body["access_token"]), str(body.get("refresh_token") or "") or refresh,
                            self.clock() + float(lifetime) if isinstance(lifetime, int | float) else 0.0)
        self.tokens.save(self.backend, token)  # durable before the token is used: the old refresh token is spent
        return token
