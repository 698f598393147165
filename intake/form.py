"""``/request``: the public form (channel ``web_form``, source ``external``). No script, no account.

``GET /request`` shows it (ru/en by the visitor's language, web's switch); ``POST
/request`` (multipart, CSRF-checked like web's other forms) refuses a body over
``intake.web.max_bytes`` before reading it (413), drops a filled honeypot field silently
(a bot sees the thanks page; nothing is stored), refuses more than ``intake.web.rate``
submissions per client address (429, the form again), shows the form again with the
problems (422) — else stores the request and redirects (303) to
``/request/done/<signed token>``: the registration reference at once, the CRM's number
once the CRM registered it (else: it comes by mail).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from crm_bridge.links import sign, verify
from intake.settings import IntakeConfig, WebForm
from intake.submission import FileIn, RateLimiter, Submission
from intake.web import TEMPLATES, State, state_of, submit

if TYPE_CHECKING:
    from fastapi import FastAPI

    from crm_bridge.app import App
    from web.site import Site

__all__ = ["HONEYPOT", "WORDS", "check_pages", "mount_form", "read_form"]

log = logging.getLogger(__name__)
HONEYPOT = "website"  # hidden by the stylesheet; people leave it empty, form-filling bots do not
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
LIMITS = {"name": 200, "email": 320, "phone": 40, "subject": 1000, "description": 100_000}

WORDS: dict[str, dict[str, str]] = {
    "ru": {"title": "Новое обращение", "name": "Ваше имя", "email": "Электронная почта", "phone": "Телефон",
           "subject": "Тема", "description": "Опишите вопрос", "files": "Файлы (необязательно)", "send": "Отправить",
           "optional": "необязательно", "website": "Не заполняйте это поле",
           "need_name": "Укажите имя.", "need_email": "Укажите адрес электронной почты, например ivanova@example.ru.",
           "need_subject": "Укажите тему.", "need_description": "Опишите вопрос.",
           "too_long": "Слишком длинное поле.", "too_big": "Файлы слишком большие: не больше {mb} МБ вместе.",
           "rate": "Слишком много обращений с вашего адреса. Попробуйте позже.",
           "done": "Обращение принято", "reference": "Номер регистрации",
           "crm_number": "Номер обращения", "by_mail": "Номер обращения придёт письмом на ваш адрес.",
           "attached": "Сообщение добавлено к вашему открытому обращению.",
           "in_review": "Мы уточняем, кто вы, — ответ придёт письмом."},
    "en": {"title": "New request", "name": "Your name", "email": "E-mail", "phone": "Phone",
           "subject": "Subject", "description": "Describe your question", "files": "Files (optional)", "send": "Send",
           "optional": "optional", "website": "Leave this field empty",
           "need_name": "Give your name.", "need_email": "Give an e-mail address, e.g. ivanova@example.com.",
           "need_subject": "Give a subject.", "need_description": "Describe your question.",
           "too_long": "This field is too long.", "too_big": "The files are too big: {mb} MB together at most.",
           "rate": "Too many requests from your address. Please try again later.",
           "done": "Request received", "reference": "Registration reference",
           "crm_number": "Request number", "by_mail": "The request number will come by e-mail.",
           "attached": "Your message was added to your open request.",
           "in_review": "We are checking who you are; the answer comes by e-mail."},
}


def read_form(fields: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The form's values stripped, and the keys of ``WORDS`` naming each problem. Pure."""
    values = {k: (fields.get(k) or "").strip() for k in LIMITS}
    problems = [f"need_{k}" for k in ("name", "subject", "description") if not values[k]]
    if not EMAIL.match(values["email"]):
        problems.append("need_email")
    if any(len(values[k]) > n for k, n in LIMITS.items()):
        problems.append("too_long")
    return values, problems


def mount_form(api: FastAPI, site: Site) -> None:
    bridge = site.bridge
    limiters: dict[WebForm, RateLimiter] = {}

    def config() -> WebForm:
        section: IntakeConfig = bridge.config.section("intake")
        if section.web is None:
            raise HTTPException(404, "the request form is off (intake.web)")
        return section.web

    def limiter(web: WebForm) -> RateLimiter:
        return limiters.setdefault(web, RateLimiter(web.rate.requests, web.rate.within))

    def show(request: Request, status: int = 200, values: dict[str, str] | None = None,
             problems: list[str] | None = None, **more: Any) -> Response:
        w = site.words(request, WORDS)
        said = [w[p].format(mb=config().max_bytes // 1_000_000) for p in problems or []]
        return site.page(request, "request.html", status, w=w, values=values or dict.fromkeys(LIMITS, ""), problems=said, honeypot=HONEYPOT,
                         **more)

    async def small_enough(request: Request) -> None:
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > config().max_bytes + 64_000:  # + the fields and boundaries
            raise HTTPException(413, "too big")

    @api.get("/request", include_in_schema=False)
    def form_page(request: Request) -> Response:
        config()
        return show(request)

    @api.post("/request", include_in_schema=False, dependencies=[Depends(small_enough), Depends(site.csrf_checked)])
    async def form_post(request: Request) -> Response:
        form = await request.form()  # parsed once already by the CSRF check: cached
        try:
            return await _accept(request, form)
        finally:
            await form.close()  # the uploads' temporary files

    async def _accept(request: Request, form: FormData) -> Response:
        web = config()
        texts = {k: v for k, v in form.items() if isinstance(v, str)}
        values, problems = read_form(texts)
        if texts.get(HONEYPOT):
            log.info("request form: honeypot filled, nothing stored", extra={"event": "intake.web.honeypot"})
            return RedirectResponse("/request/done/-", status_code=303)
        client = request.client.host if request.client else "?"
        if not limiter(web).allow(client, bridge.clock()):
            log.warning("request form: rate limit for %s", client, extra={"event": "intake.web.rate_limited"})
            return show(request, 429, values, ["rate"])
        if problems:
            return show(request, 422, values, problems)
        files = [FileIn(f.filename or "attachment", f.content_type or "application/octet-stream", await f.read())
                 for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
        if sum(len(f.data) for f in files) > web.max_bytes:
            return show(request, 413, values, ["too_big"])
        sub = Submission(values["name"], values["email"].lower(), values["phone"], values["subject"],
                         values["description"], tuple(files))
        stored = submit(bridge, sub, channel="web_form", source="external", via="web")
        links = bridge.config.section("links")
        token = sign(site.link_key, "submission", f"inbox:{stored.inbox_id}",
                     expires=bridge.clock() + timedelta(days=links.ttl_days))
        return RedirectResponse(f"/request/done/{token}", status_code=303)

    @api.get("/request/done/{token}", include_in_schema=False)
    def done(request: Request, token: str) -> Response:
        config()
        if token == "-":  # the honeypot's answer: looks like success, shows nothing
            return site.page(request, "request_done.html", w=site.words(request, WORDS), state=None)
        link = verify(site.link_key, token, "submission", bridge.clock())  # refused: web's page
        state = state_of(bridge, int(link.ident))
        if state is None:
            raise HTTPException(404, "gone")
        return site.page(request, "request_done.html", w=site.words(request, WORDS), state=state)


def check_pages(app: App) -> list[dict[str, Any]]:
    """``crm-bridge check`` line: the form and its thanks page (a user's copy in
    ``web.templates`` first) rendered in both languages against a sample, so a typo fails there."""
    from jinja2 import TemplateError

    from web.i18n import LANGUAGES
    from web.pages import Pages

    pages = Pages(app.config.section("web"))
    pages.add_folder(TEMPLATES)
    sample = State("IN-0000017", "registered", "CRM-0000042", "web_form", "external",
                   datetime(2027, 1, 11, 7, 56, tzinfo=UTC), None)
    common = {"here": "/request", "csrf": "sample", "user": None, "can_logout": False, "zone": "Europe/Moscow"}
    for lang in LANGUAGES:
        for name, context in (("request.html", {"values": dict.fromkeys(LIMITS, "<x>"), "problems": ["<p>"],
                                                "honeypot": HONEYPOT}),
                              ("request_done.html", {"state": sample})):
            try:
                pages.render(name, lang, w=WORDS[lang], **common, **context)
            except TemplateError as exc:
                return [{"what": "intake form", "ok": False, "detail": f"{name}: {exc.message or exc} (a sample in {lang})"}]
    return [{"what": "intake form", "ok": True, "detail": f"request.html, request_done.html x {len(LANGUAGES)} languages render"}]
