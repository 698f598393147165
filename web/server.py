"""The web application: FastAPI routes over the dashboard and cabinet readers, and the
customer's actions from the links in their mail (the preferences form: ``web.prefs_form``;
RFC 8058 unsubscribe: notify's ``unsubscribe``; closure and reopen: ``web.closure``).

``create_app(bridge)`` builds it for one ``App`` (its store, configuration and clock);
``web.serve`` runs it under uvicorn. Pages are server-rendered from sandboxed Jinja2
templates (the user's ``web.templates`` folder first, then the shipped ones), carry no
script, and answer in the visitor's language. Only the JSON endpoints (``/healthz``,
``/api/dashboard``) are in ``/openapi.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from crm_bridge.app import App
from crm_bridge.links import LinkRefused, link_url, require_secret, verify
from notify.compose import token_address
from notify.prefs_store import unsubscribe
from sync.queues import resolve_conflict, set_state
from web import security
from web.cabinet import cabinet
from web.charts import draw
from web.closure import answer, request_of
from web.dashboard import OPEN, dashboard, request_link
from web.i18n import LANGUAGES, MESSAGES, choose_language
from web.pages import Pages
from web.prefs_form import FormProblem, prefs_view, save_prefs
from web.schemas import DashboardOut, Health
from web.settings import WebConfig
from web.site import Site
from web.svg import bar_chart
from web.view import DEFAULT, View, ViewProblem, choices, presets, read_view

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
    links = bridge.config.section("links")
    link_key = require_secret(links, "the web pages' customer cabinet", file=bridge.config.source)
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
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")  # a shared filtered view
        return RedirectResponse(f"/login?next={quote(wanted, safe='/')}", status_code=303)

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
    def view_of(request: Request) -> View:
        """The dashboard's period and filters from the query string (``ViewProblem``: a wrong one)."""
        now = bridge.clock()
        return read_view(request.query_params, choices(bridge), ZoneInfo(bridge.config.timezone), now)

    @api.get("/api/dashboard", response_model=DashboardOut, dependencies=[Depends(supervisor)],
             responses={422: {"description": "a period, team, agent or channel the dashboard cannot show"}})
    def dashboard_json(request: Request, period: str | None = None, team: str | None = None,
                       agent: str | None = None, channel: str | None = None) -> Any:
        """What the supervisor dashboard shows (needs a logged-in supervisor: session cookie or proxy header).
        `period` (``2026-11``, ``2026-Q4``, ``last-30d``, …), `team`, `agent` and `channel` narrow it as on the page."""
        try:
            view = view_of(request)
        except ViewProblem as problem:
            words = MESSAGES["en"][problem.key].format(value=problem.value)
            return JSONResponse({"detail": words, "field": problem.key.rsplit("_", 1)[-1], "value": problem.value},
                                status_code=422)
        return dashboard(bridge, bridge.clock(), view)

    @api.get("/dashboard", include_in_schema=False, dependencies=[Depends(supervisor)])
    def dashboard_page(request: Request, done: str | None = None) -> Response:
        lang = lang_of(request)
        t = MESSAGES[lang]
        now = bridge.clock()
        problem: str | None = None
        status = 200
        try:
            view = view_of(request)
        except ViewProblem as refused:  # the page still answers: the default view and what to type
            view, status = DEFAULT, 400
            problem = t[refused.key].format(value=refused.value)
            log.info("dashboard view refused (%s)", refused.key, extra={"event": "web.dashboard.view_refused"})
            typed = refused.typed
        else:
            typed = view.given()
        board = dashboard(bridge, now, view)
        # the open requests now, red for those breached now (whatever period the list covers)
        chart = bar_chart([(row["team"] or t["no_team"], row["total"], row["breached"])
                           for row in board["open_by_team"]], title=t["open_by_team"])
        zone = ZoneInfo(bridge.config.timezone)
        share = f"/dashboard?{view.query()}" if view.query() else "/dashboard"
        return page(request, "dashboard.html", status, board=board, chart=chart, statuses=OPEN,
                    charts=draw(board["charts"], t, lang, period=view.period.label if view.period else None),
                    crm_link=lambda number: request_link(bridge, number),
                    done=done if done in ("resolved", "retried", "nothing") else None,
                    view=view, typed=typed, problem=problem, known=choices(bridge),
                    presets=[(p, urlencode({**view.given(), "period": p})) for p in presets(zone, now)],
                    share=share, lang_next=quote(share, safe=""))

    # the conflict and outbox actions: the same functions as `crm-bridge conflicts resolve` and
    # `jobs retry`, logged with the supervisor's login; a POST-redirect-GET back to the dashboard
    @api.post("/dashboard/conflicts/{conflict_id}", include_in_schema=False,
              dependencies=[Depends(supervisor), Depends(csrf_checked)])
    def conflict_resolve(request: Request, conflict_id: int, take: Annotated[Literal["local", "remote"], Form()]) -> Response:
        with bridge.store.transaction() as s:
            result = resolve_conflict(bridge, s, conflict_id, take, bridge.clock(), by=supervisor(request))
        return RedirectResponse(f"/dashboard?done={'resolved' if result else 'nothing'}#conflicts", status_code=303)

    @api.post("/dashboard/jobs/{job_id}/retry", include_in_schema=False,
              dependencies=[Depends(supervisor), Depends(csrf_checked)])
    def job_retry(request: Request, job_id: int) -> Response:
        with bridge.store.transaction() as s:
            changed, _ = set_state(s, [job_id], bridge.clock(), retry=True, by=supervisor(request))
        return RedirectResponse(f"/dashboard?done={'retried' if changed else 'nothing'}#parked", status_code=303)

    @api.get("/cabinet/{token}", include_in_schema=False)
    def cabinet_page(request: Request, token: str, *, saved: bool = False) -> Response:
        now = bridge.clock()
        link = verify(link_key, token, "cabinet", now)
        return page(request, "cabinet.html", cab=cabinet(bridge, link, now), prefs=prefs_view(bridge, link), saved=saved,
                    problem=None, problem_detail=None)

    @api.post("/cabinet/{token}", include_in_schema=False, dependencies=[Depends(csrf_checked)])
    def cabinet_save(request: Request, token: str, channels: Annotated[list[str], Form()] = [],  # noqa: B006
                     events: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
                     frequency: Annotated[str, Form()] = "", digest_at: Annotated[str, Form()] = "",
                     quiet_from: Annotated[str, Form()] = "", quiet_to: Annotated[str, Form()] = "",
                     language: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                     phone: Annotated[str, Form()] = "", telegram: Annotated[str, Form()] = "") -> Response:
        """The preferences form: stored by notify (source ``web``), then the cabinet again."""
        now = bridge.clock()
        link = verify(link_key, token, "cabinet", now)
        form = {"channels": channels, "events": events, "frequency": [frequency], "digest_at": [digest_at],
                "quiet_from": [quiet_from], "quiet_to": [quiet_to], "language": [language], "email": [email],
                "phone": [phone], "telegram": [telegram]}
        try:
            changed = save_prefs(bridge, link, form, now)
        except FormProblem as exc:
            return page(request, "cabinet.html", 400, cab=cabinet(bridge, link, now), prefs=prefs_view(bridge, link),
                        saved=False, problem=exc.key, problem_detail=exc.detail or None)
        log.info("preferences changed on the cabinet page: %s", ", ".join(changed) or "nothing",
                 extra={"event": "web.prefs.saved", "subject": link.subject})
        return RedirectResponse(f"/cabinet/{quote(token)}?saved=true#prefs", status_code=303)

    def confirm(request: Request, kind: str, facts: dict[str, Any], said: str | None = None, status: int = 200,
                cabinet_for: str | None = None) -> Response:
        cabinet_url = link_url(links, "cabinet", cabinet_for, bridge.clock()) if cabinet_for else None
        return page(request, "confirm.html", status, kind=kind, facts=facts, said=said, cabinet_url=cabinet_url)

    @api.get("/unsubscribe/{token}", include_in_schema=False)
    def unsubscribe_page(request: Request, token: str) -> Response:
        """RFC 8058: a GET (a person, or a mail client's link checker) only asks."""
        address = token_address(bridge.config.section("notify"), token, bridge.clock(), links=links)
        return confirm(request, "unsubscribe", {"address": address})

    # RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click` with no cookie,
    # so no CSRF token is possible; the signed token, bound to one address, is the proof
    @api.post("/unsubscribe/{token}", include_in_schema=False)
    def unsubscribe_post(request: Request, token: str,
                         one_click: Annotated[str, Form(alias="List-Unsubscribe")] = "") -> Response:
        if one_click != "One-Click":
            raise HTTPException(400, "an RFC 8058 unsubscribe POST carries List-Unsubscribe=One-Click")
        now = bridge.clock()
        token_address(bridge.config.section("notify"), token, now, links=links)  # a refused link: its page
        result = unsubscribe(bridge, token, now=now)
        return confirm(request, "unsubscribe", {"address": result["address"]},
                       said="unsubscribe_already" if result["already"] else "unsubscribe_done")

    def closure_routes(action: Literal["close", "reopen"]) -> None:
        @api.get(f"/{action}/{{token}}", include_in_schema=False, name=f"{action}_page")
        def ask(request: Request, token: str) -> Response:
            link = verify(link_key, token, action, bridge.clock())
            shown = request_of(bridge, link)
            if shown is None:
                return page(request, "message.html", 404, title=MESSAGES[lang_of(request)]["no_request"], key="no_request")
            return confirm(request, action, shown, cabinet_for=link.subject)

        @api.post(f"/{action}/{{token}}", include_in_schema=False, name=f"{action}_post",
                  dependencies=[Depends(csrf_checked)])
        def act(request: Request, token: str) -> Response:
            now = bridge.clock()
            link = verify(link_key, token, action, now)
            outcome, shown = answer(bridge, link, action, now)
            if shown is None:
                return page(request, "message.html", 404, title=MESSAGES[lang_of(request)]["no_request"], key="no_request")
            return confirm(request, action, shown, said=f"{action}_{outcome}", status=409 if outcome == "refused" else 200,
                           cabinet_for=link.subject)

    closure_routes("close")
    closure_routes("reopen")
    # other addons' pages (csat's rating page) come through the registry: web imports none of them
    site = Site(bridge=bridge, link_key=link_key, pages=pages, page=page, lang_of=lang_of, csrf_checked=csrf_checked)
    for comp in bridge.registry.all("web.router"):
        comp.obj(api, site)
    return api
