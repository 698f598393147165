"""The rating page, mounted into the web addon's application (usage ``web.router``).

``GET /rate/<token>[?score=N]`` shows the survey's form — the score from the mail's
one-click link pre-selected, else the stored one — and changes nothing; ``POST
/rate/<token>`` (CSRF-checked) stores the rating and answers with a redirect to the thanks
page (``?thanks=1``). A forged, expired or other request's link gets web's refusal page
(``LinkRefused``, logged there without the token).
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from crm_bridge.app import App
from csat.rating import MAX_COMMENT, BadRating, Survey, open_survey, rate
from csat.settings import SCORES, CsatConfig
from web.site import Site

__all__ = ["WORDS", "check_page", "mount"]

TEMPLATES = Path(__file__).parent / "templates"

WORDS: dict[str, dict[str, str]] = {
    "ru": {"title": "Оцените решение обращения", "question": "Насколько вы довольны решением обращения?",
           "comment": "Комментарий (необязательно)", "send": "Отправить оценку", "thanks": "Спасибо за оценку!",
           "yours": "Ваша оценка", "until": "Изменить её можно до", "change": "Изменить оценку",
           "bad_score": "Выберите оценку.", "of5": "из 5",
           "face_1": "Плохо", "face_3": "Нормально", "face_5": "Отлично", "low_1": "очень плохо", "high_5": "отлично"},
    "en": {"title": "Rate the resolution of your request", "question": "How satisfied are you with how we resolved it?",
           "comment": "Comment (optional)", "send": "Send my rating", "thanks": "Thank you for your rating!",
           "yours": "Your rating", "until": "You can change it until", "change": "Change my rating",
           "bad_score": "Choose a score.", "of5": "of 5",
           "face_1": "Poor", "face_3": "Okay", "face_5": "Great", "low_1": "very poor", "high_5": "great"},
}


def mount(api: FastAPI, site: Site) -> None:
    """Add the rating page's routes to `api` (called by ``web.server.create_app``)."""
    site.pages.add_folder(TEMPLATES)
    bridge = site.bridge

    def config() -> CsatConfig:
        return bridge.config.section("csat")  # type: ignore[no-any-return]

    def show(request: Request, token: str, *, chosen: int | None, status: int = 200, error: bool = False,
             thanks: bool = False) -> Response:
        survey = open_survey(bridge, site.link_key, token, bridge.clock())
        scale = config().scale
        pick = chosen if chosen in SCORES[scale] else survey.score
        return site.page(request, "rate.html", status, w=site.words(request, WORDS), survey=survey, token=token,
                         scale=scale, scores=SCORES[scale], pick=pick, error=error, thanks=thanks,
                         max_comment=MAX_COMMENT)

    @api.get("/rate/{token}", include_in_schema=False)
    def rate_page(request: Request, token: str, score: str = "", thanks: str = "") -> Response:
        # a hand-edited query (score=abc) shows the page without a choice, not a JSON error
        return show(request, token, chosen=int(score) if score.isdigit() else None, thanks=thanks == "1")

    @api.post("/rate/{token}", include_in_schema=False, dependencies=[Depends(site.csrf_checked)])
    def rate_post(request: Request, token: str, score: Annotated[str, Form()] = "",
                  comment: Annotated[str, Form()] = "") -> Response:
        if not score.isdigit():
            return show(request, token, chosen=None, status=422, error=True)
        try:
            rate(bridge, site.link_key, token, int(score), comment, bridge.clock())
        except BadRating:
            return show(request, token, chosen=None, status=422, error=True)
        return RedirectResponse(f"/rate/{token}?thanks=1", status_code=303)


def check_page(app: App) -> list[dict[str, Any]]:
    """``crm-bridge check`` line: the rating page (a user's copy in ``web.templates`` first)
    rendered in both languages, on both scales, rated and not, so a typo fails there."""
    from jinja2 import TemplateError

    from web.i18n import LANGUAGES
    from web.pages import Pages

    pages = Pages(app.config.section("web"))
    pages.add_folder(TEMPLATES)
    now = datetime(2027, 1, 11, 7, 56, tzinfo=UTC)
    for lang in LANGUAGES:
        for scale, score in (("five", 2), ("faces", None)):
            survey = Survey(1, 42, "CRM-0000042", "Не проходит оплата <картой>", now + timedelta(days=7), score, None)
            try:
                pages.render("rate.html", lang, here="/", csrf="sample", user=None, can_logout=False,
                             zone="Europe/Moscow", w=WORDS[lang], survey=survey, token="t0k3n", scale=scale,
                             scores=SCORES[scale], pick=score, error=True, thanks=True, max_comment=MAX_COMMENT)
            except TemplateError as exc:
                place = next((f"{f.filename}:{f.lineno}" for f in reversed(traceback.extract_tb(exc.__traceback__))
                              if f.filename.endswith(".html")), "rate.html")
                return [{"what": "csat page", "ok": False, "detail": f"{place}: {exc.message or exc} (rendering a sample "
                                                                      f"in {lang}, scale {scale})"}]
    return [{"what": "csat page", "ok": True, "detail": f"rate.html x {len(LANGUAGES)} languages x 2 scales render"}]
