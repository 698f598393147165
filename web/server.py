"""The web application: FastAPI routes over the dashboard and cabinet readers.

``create_app(bridge)`` builds it for one ``App`` (its store, configuration and clock);
``web.serve`` runs it under uvicorn. Pages are server-rendered from sandboxed Jinja2
templates (the user's ``web.templates`` folder first, then the shipped ones), carry no
script, and answer in the visitor's language. Only the JSON endpoints (``/healthz``,
``/api/dashboard``) are in ``/openapi.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from crm_bridge.app import App
from crm_bridge.links import LinkRefused, require_secret, verify
from web import security
from web.cabinet import cabinet
from web.dashboard import OPEN, dashboard
from web.i18n import LANGUAGES, MESSAGES, choose_language
from web.pages import Pages
from web.schemas import DashboardOut, Health
from web.settings import WebConfig
from web.site import Site
from web.svg import bar_chart

__all__ = ["create_app"]

log = logging.getLogger(__name__)
CSS = Path(__file__).parent / "static" / "web.css"


class _LoginNeeded(Exception):  # noqa: N818 - control flow: becomes a redirect or a 401
    pass


def _local(path: str | None) -> str:
    """`path` if it stays on this site, else the dashboard (no open redirect: browsers drop
    tabs and newlines and read a backslash as a slash, so ``/<tab>/evil.example`` would leave)."""
    if not path or not path.startswith("/") or any(ch == "\\" or ch.isspace() or not ch.isprintable() for ch in path):
        return "/dashboard"
    return "/dashboard" if path.startswith("//") else path


def create_app(bridge: App) -> FastAPI:
    """The FastAPI application serving `bridge`'s store.

    Raises:
        ConfigError: ``links.secret`` is not set (the cabinet could not check a link).
    """
    config: WebConfig = bridge.config.section("web")
    link_key = require_secret(bridge.config.section("links"), "the web pages' customer cabinet",
                              file=bridge.config.source)
    pages = Pages(config)
    api = FastAPI(title="crm-bridge web", version="0.1.0", docs_url=None, redoc_url=None)

    def lang_of(request: Request) -> str:
        return choose_language(request.cookies.get("lang"), request.headers.get("accept-language"))

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = security.session_user(config, request.cookies.get(security.SESSION_COOKIE), bridge.clock())
        html = pages.render(name, lang_of(request), here=quote(request.url.path),
                            csrf=security.csrf_token(config, request.state.nonce), user=_who(request),
                            can_logout=session is not None,  # a proxy's user logs out at the proxy
                            zone=bridge.config.timezone, **context)
        return HTMLResponse(html, status_code=status)

    def _who(request: Request) -> str | None:
        if config.proxy is not None:
            found = security.proxy_user(config, request.client.host if request.client else None,
                                        request.headers.get(config.proxy.header))
            if found is not None:
                return found
        return security.session_user(config, request.cookies.get(security.SESSION_COOKIE), bridge.clock())

    def supervisor(request: Request) -> str:
        who = _who(request)
        if who is None:
            raise _LoginNeeded
        return who

    async def csrf_checked(request: Request) -> None:
        form = await request.form()
        given = form.get(security.CSRF_FIELD)
        if not security.csrf_ok(config, request.cookies.get(security.CSRF_COOKIE), given if isinstance(given, str) else None):
            log.warning("form refused: no valid CSRF token", extra={"event": "web.csrf.refused", "path": request.url.path})
            raise HTTPException(403, "csrf")

    @api.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        request.state.nonce = request.cookies.get(security.CSRF_COOKIE) or security.new_nonce()
        response: Response = await call_next(request)
        response.headers.update(security.HEADERS)
        if security.CSRF_COOKIE not in request.cookies:
            response.set_cookie(security.CSRF_COOKIE, request.state.nonce, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")
        return response

    @api.exception_handler(_LoginNeeded)
    async def _login_needed(request: Request, exc: _LoginNeeded) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "log in first (POST /login)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @api.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/healthz":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        key = "csrf" if exc.detail == "csrf" else "forbidden"
        return page(request, "message.html", exc.status_code, title=MESSAGES[lang_of(request)]["forbidden"], key=key)

    @api.exception_handler(LinkRefused)
    async def _refused(request: Request, exc: LinkRefused) -> Response:
        # the token is not logged: it may be a valid link of someone who pasted it wrong
        log.warning("customer link refused (%s): %s", exc.reason, exc, extra={
            "event": "web.link.refused", "reason": exc.reason,
            "client": request.client.host if request.client else None})
        return page(request, "message.html", exc.status, title=MESSAGES[lang_of(request)]["refused_title"],
                    key=f"refused_{exc.reason}")

    @api.get("/healthz", response_model=Health, responses={503: {"model": Health}})
    def healthz() -> JSONResponse:
        """200 while the store answers a query, 503 (with the driver's reason) when it does not."""
        try:
            with bridge.store.transaction() as s:
                s.execute(text("select 1"))
        except Exception as exc:  # any driver error: the store is what is unhealthy
            reason = str(exc).strip().splitlines()[0][:200]
            log.warning("health check: store unreachable: %s", reason, extra={"event": "web.health.store"})
            return JSONResponse(Health(ok=False, store=reason).model_dump(), status_code=503)
        return JSONResponse(Health(ok=True, store="reachable").model_dump())

    @api.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        from crm_bridge.metrics import render

        return Response(render(bridge), media_type=CONTENT_TYPE_LATEST)

    @api.get("/static/web.css", include_in_schema=False)
    def css() -> FileResponse:
        return FileResponse(CSS, media_type="text/css")

    @api.get("/lang/{code}", include_in_schema=False)
    def switch(code: str, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
        response = RedirectResponse(_local(next), status_code=303)
        if code in LANGUAGES:
            response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax")
        return response

    @api.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/dashboard", status_code=303)

    @api.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/dashboard") -> Response:  # noqa: A002
        if not config.login_enabled:
            return page(request, "message.html", 403, title=MESSAGES[lang_of(request)]["login"], key="no_login")
        return page(request, "login.html", next=_local(next), failed=False)

    @api.post("/login", include_in_schema=False, dependencies=[Depends(csrf_checked)])
    def login(request: Request, login: Annotated[str, Form()], password: Annotated[str, Form()],
              next: Annotated[str, Form()] = "/dashboard") -> Response:  # noqa: A002
        if not config.users or not security.check_password(config, login, password):
            log.warning("login refused for %r", login[:100], extra={"event": "web.login.refused"})
            return page(request, "login.html", 401, next=_local(next), failed=True)
        log.info("login: %s", login, extra={"event": "web.login.ok"})
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(security.SESSION_COOKIE, security.open_session(config, login, bridge.clock()),
                            max_age=config.session_hours * 3600, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    @api.post("/logout", include_in_schema=False, dependencies=[Depends(csrf_checked)])
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(security.SESSION_COOKIE)
        return response

    # the login check as a route dependency: a closure in an annotation is a string FastAPI cannot resolve
    @api.get("/api/dashboard", response_model=DashboardOut, dependencies=[Depends(supervisor)])
    def dashboard_json() -> dict[str, Any]:
        """What the supervisor dashboard shows (needs a logged-in supervisor: session cookie or proxy header)."""
        return dashboard(bridge, bridge.clock())

    @api.get("/dashboard", include_in_schema=False, dependencies=[Depends(supervisor)])
    def dashboard_page(request: Request) -> Response:
        board = dashboard(bridge, bridge.clock())
        t = MESSAGES[lang_of(request)]
        breached_by_team: dict[str | None, int] = {}
        for row in board["breached"]:
            breached_by_team[row["team"]] = breached_by_team.get(row["team"], 0) + 1
        chart = bar_chart([(row["team"] or t["no_team"], row["total"], breached_by_team.get(row["team"], 0))
                           for row in board["open_by_team"]], title=t["open_by_team"])
        return page(request, "dashboard.html", board=board, chart=chart, statuses=OPEN)

    @api.get("/cabinet/{token}", include_in_schema=False)
    def cabinet_page(request: Request, token: str) -> Response:
        now = bridge.clock()
        link = verify(link_key, token, "cabinet", now)
        return page(request, "cabinet.html", cab=cabinet(bridge, link, now))

    # other addons' pages (csat's rating page) come through the registry: web imports none of them
    site = Site(bridge=bridge, link_key=link_key, pages=pages, page=page, lang_of=lang_of, csrf_checked=csrf_checked)
    for comp in bridge.registry.all("web.router"):
        comp.obj(api, site)
    return api
