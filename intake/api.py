"""``POST /api/intake/requests`` and ``GET /api/intake/requests/{reference}``: the JSON API.

For internal systems and other departments. A caller is a bearer token named in
``intake.api.tokens`` (compared in constant time; the token is never logged, the name
is); its requests are source ``internal`` unless the token says ``source: external``.
``Idempotency-Key`` makes a retry safe: the key (per caller) is the stored message's
Message-ID, so the same key is the same inbox row and the same answer — never a second
request; the same key with another body is refused (422). 201 comes after the commit.
A caller reads only the requests it submitted (another's reference: 403). Example::

    curl -X POST https://support.example.ru/api/intake/requests \\
      -H "Authorization: Bearer $ERP_INTAKE_TOKEN" -H "Idempotency-Key: order-1733" \\
      -H "Content-Type: application/json" \\
      -d '{"name": "Склад", "email": "sklad@example.ru", "subject": "Не работает сканер", "description": "…"}'
    # 201 {"reference": "IN-0000017", "state": "stored", "crm_number": null, ...}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from intake.settings import IntakeConfig
from intake.submission import FileIn, Submission, idempotent_message_id
from intake.tables import InboxRow
from intake.web import State, state_of, submit

if TYPE_CHECKING:
    from fastapi import FastAPI

    from web.site import Site

__all__ = ["Attachment", "Problem", "RequestIn", "RequestOut", "mount_api"]

log = logging.getLogger(__name__)
EMAIL = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"
_REFERENCE = re.compile(r"^IN-(\d{1,12})$")
bearer = HTTPBearer(auto_error=False, description="a token from intake.api.tokens")  # module level: annotations resolve here


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", pattern=r"^[\w.+-]+/[\w.+-]+$")
    content_base64: str = Field(description="the file's bytes, base64 (RFC 4648)")


class RequestIn(BaseModel):
    """A request to register. Unknown keys are refused (422): a misspelt field is not lost silently."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="who asks (a person or a department)")
    email: str = Field(pattern=EMAIL, max_length=320, description="where the acknowledgement and answers go")
    phone: str = Field(default="", max_length=40)
    subject: str = Field(min_length=1, max_length=1000)
    description: str = Field(min_length=1, max_length=100_000)
    fields: dict[str, str] = Field(default={}, description="more facts, listed in the request's text")
    attachments: list[Attachment] = Field(default=[], max_length=20)


class RequestOut(BaseModel):
    reference: str = Field(description="the registration reference, IN-0000017")
    state: Literal["stored", "registered", "attached", "in_review", "ignored"] = Field(
        description="stored: waiting to be registered; registered: in the CRM (crm_number set); attached: joined an "
                    "open request; in_review: a person decides who wrote; ignored: not registered (see intake log)")
    crm_number: str | None = Field(description="the CRM's number once the CRM registered it")
    channel: str
    source: Literal["internal", "external"]
    received_at: datetime


class Problem(BaseModel):
    """What went wrong: a sentence, or (a body that does not fit ``RequestIn``) pydantic's list
    of ``{loc, msg, type}`` naming each field."""

    detail: str | list[dict[str, Any]]


def _out(state: State) -> RequestOut:
    source: Literal["internal", "external"] = "internal" if state.source == "internal" else "external"
    return RequestOut(reference=state.reference, state=state.state,  # type: ignore[arg-type]
                      crm_number=state.crm_number, channel=state.channel, source=source, received_at=state.received_at)


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def mount_api(api: FastAPI, site: Site) -> None:
    bridge = site.bridge
    unauthorized = {"WWW-Authenticate": "Bearer"}
    answers: dict[int | str, dict[str, object]] = {401: {"model": Problem}, 403: {"model": Problem},
                                                   422: {"model": Problem}}

    def caller_of(credentials: HTTPAuthorizationCredentials | None) -> tuple[str, str] | JSONResponse:
        config: IntakeConfig = bridge.config.section("intake")
        if config.api is None:
            return _problem(403, "the intake API is off: add intake.api.tokens to the configuration")
        if credentials is None:
            return _problem(401, "send Authorization: Bearer <token from intake.api.tokens>", **unauthorized)
        found = config.api.caller(credentials.credentials)
        if found is None:
            log.warning("intake API call refused: unknown token", extra={"event": "intake.api.refused"})
            return _problem(401, "this bearer token is not in intake.api.tokens", **unauthorized)
        return found

    @api.post("/api/intake/requests", status_code=201, response_model=RequestOut, responses=answers,
              tags=["intake"], summary="Register a request (stored at once, registered in the CRM by intake)")
    async def create(request: Request, body: RequestIn,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                     idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JSONResponse:
        """201 with the reference once the request is stored; the same `Idempotency-Key` (per
        token) returns the same request, never a second one."""
        who = caller_of(credentials)
        if isinstance(who, JSONResponse):
            return who
        caller, source = who
        files = []
        for a in body.attachments:
            try:
                files.append(FileIn(a.filename, a.content_type, base64.b64decode(a.content_base64, validate=True)))
            except (binascii.Error, ValueError):
                return _problem(422, f"attachments: {a.filename!r} is not valid base64")
        config: IntakeConfig = bridge.config.section("intake")
        if config.api is not None and sum(len(f.data) for f in files) > config.api.max_bytes:
            return _problem(413, f"attachments exceed intake.api.max_bytes ({config.api.max_bytes} bytes)")
        digest = hashlib.sha256(json.dumps(body.model_dump(), sort_keys=True).encode()).hexdigest()
        sub = Submission(body.name, body.email, body.phone, body.subject, body.description, tuple(files), body.fields)
        mid = idempotent_message_id(caller, idempotency_key) if idempotency_key else None
        stored = submit(bridge, sub, channel="api", source=source, via="api", message_id=mid, caller=caller,
                        body_sha256=digest)
        state = state_of(bridge, stored.inbox_id)
        assert state is not None  # noqa: S101 - committed just now
        if not stored.new:
            with bridge.store.transaction() as s:
                row = s.get(InboxRow, stored.inbox_id)
                before = ((row.decision or {}).get("submitted") or {}) if row is not None else {}
            if before.get("body_sha256") != digest:
                return _problem(422, "Idempotency-Key was used before for another request: send a new key for a "
                                     "new request, or the same body to get the first answer again")
        log.info("intake API: %s %s by %s", "stored" if stored.new else "replayed", state.reference, caller,
                 extra={"event": "intake.api.stored" if stored.new else "intake.api.replayed", "caller": caller,
                        "inbox_id": stored.inbox_id})
        return JSONResponse(_out(state).model_dump(mode="json"), status_code=201,
                            headers={"Location": f"/api/intake/requests/{state.reference}"})

    @api.get("/api/intake/requests/{reference}", response_model=RequestOut, tags=["intake"],
             responses={**answers, 404: {"model": Problem}}, summary="What became of a request")
    def show(reference: str,
             credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> JSONResponse:
        """The request's state: stored, registered (with the CRM's number), attached, in review or ignored."""
        who = caller_of(credentials)
        if isinstance(who, JSONResponse):
            return who
        found = _REFERENCE.match(reference)
        state = state_of(bridge, int(found[1])) if found else None
        if state is None:
            return _problem(404, f"no request {reference!r}: references look like IN-0000017")
        if state.caller != who[0]:
            return _problem(403, f"{reference} was not submitted with this token")
        return JSONResponse(_out(state).model_dump(mode="json"))
