"""The page templates: the user's ``web.templates`` folder first, then the shipped ones,
rendered by a sandboxed Jinja2 environment with autoescape; ``check_pages`` renders each
against samples at ``crm-bridge check``, so a typo in a user's page fails there.

Every page sees ``lang``, ``t`` (the words in that language), ``other`` (the language the
switch offers), ``here`` (the path, for the switch), ``csrf`` (the form token), ``user``
(the supervisor or None), ``can_logout`` (a password login, not the proxy's), ``zone`` and
``when(at, zone, lang)`` (Babel dates, notify's) and ``span(seconds, lang)`` (business time,
``web.i18n.duration_text``).
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from crm_bridge.app import App
from kpi.period import Period
from notify.prefs import CHANNELS, CUSTOMER_EVENTS, FREQUENCIES
from notify.templates import format_when
from web.i18n import LANGUAGES, MESSAGES, duration_text
from web.settings import WebConfig
from web.view import View

__all__ = ["SHIPPED", "Pages", "check_pages"]

SHIPPED = Path(__file__).parent / "templates"


class Pages:
    """The templates of one configuration."""

    def __init__(self, config: WebConfig) -> None:
        self.folders = [*([config.templates] if config.templates else []), SHIPPED]
        self._env = SandboxedEnvironment(loader=FileSystemLoader([str(f) for f in self.folders]),
                                         autoescape=select_autoescape(default=True), undefined=StrictUndefined)
        self._env.globals["when"] = format_when
        self._env.globals["span"] = duration_text

    def add_folder(self, folder: Path) -> None:
        """Search `folder` after the user's and the shipped ones: an addon's pages (csat's
        rating page) extend ``base.html`` like web's own, and the user may still override them."""
        self.folders.append(folder)
        self._env.loader = FileSystemLoader([str(f) for f in self.folders])

    def render(self, name: str, lang: str, **context: Any) -> str:
        """Page `name` in `lang` with `context` (see the module docstring for what every page sees)."""
        other = next(code for code in LANGUAGES if code != lang)
        return self._env.get_template(name).render(lang=lang, t=MESSAGES[lang], other=other, **context)


def _samples(now: datetime) -> dict[str, dict[str, Any]]:
    request = {"number": "CRM-0000042", "subject": "Не проходит оплата <картой>", "status": "in_progress",
               "team": "L1", "assignee": "Петров Пётр", "due": now + timedelta(hours=2), "left": None}
    board = {"now": now, "open_by_team": [{"team": "L1", "counts": {"new": 1, "in_progress": 1, "waiting_customer": 0},
                                           "total": 2}, {"team": None, "counts": {"new": 1, "in_progress": 0}, "total": 1}],
             "at_risk": [request], "breached_in": "2026-11", "breached_total": 3,
             "breached": [{**request, "team": None, "assignee": None, "metric": "first_response", "cycle": 1,
                           "ended": "fulfil", "ended_at": now, "late": 3900.0},
                          {**request, "metric": "resolution", "cycle": 2, "ended": None, "ended_at": None, "late": None}],
             "routing_queue": [{"team": "L1", "queued": 1, "oldest": "CRM-0000050", "since": now, "reason": None}],
             "parked_mails": 1, "problems": [{"section": "notify", "reason": "1 mail parked", "command": "crm-bridge notify log"}],
             "breached_by": [{"team": "L1", "assignee": None, "count": 3, "requests": 2, "numbers": ["CRM-0000042"]}],
             "conflicts": [{"id": 1, "model": "ticket", "number": "CRM-0000042", "record": "request CRM-0000042",
                            "field": "priority", "local": "high", "remote": "<low>"},
                           {"id": 2, "model": "customer", "number": "Ромашка", "record": "customer Ромашка",
                            "field": "name", "local": "a", "remote": "b"}],
             "parked_jobs": [{"id": 7, "model": "ticket", "number": "CRM-0000042", "record": "request CRM-0000042",
                              "fields": {"status": "resolved"}, "attempts": 5, "last_error": "HTTP 500"}]}
    cabinet = {"contact": "Иванова Мария Петровна", "zone": "Europe/Moscow", "now": now,
               "requests": [{"number": "CRM-0000042", "subject": "", "status": "new", "due": None, "assignee": None},
                            {"number": "CRM-0000043", "subject": "x", "status": "odd", "due": now, "assignee": "Пётр"}]}
    prefs = {"channels": ["email"], "events": ["resolved"], "frequency": "daily", "digest_at": "09:00",
             "quiet_from": "22:00", "quiet_to": "08:00", "language": "ru", "timezone": "Europe/Moscow",
             "addresses": {"email": "m.ivanova@example.ru", "sms": "", "telegram": ""}, "opted_out": {"sms": now},
             "all_channels": CHANNELS, "all_events": CUSTOMER_EVENTS, "frequencies": FREQUENCIES, "languages": LANGUAGES}
    charts = dict.fromkeys(("volume", "sla", "backlog", "csat", "load"), Markup("<svg></svg>"))
    return {"dashboard.html": {"board": board, "chart": Markup("<svg></svg>"), "statuses": ["new", "in_progress"],
                               "charts": charts, "done": "resolved",
                               "view": View(Period("2026-11", now - timedelta(days=30), now), "L1", "Петров Пётр", "email"),
                               "typed": {"period": "2026-11", "team": "L1"}, "problem": "Не понимаю период «2026-13».",
                               "known": {"team": ["L1", "L2"], "agent": ["Петров Пётр"], "channel": ["email"]},
                               "presets": [("last-7d", "period=last-7d"), ("2026-11", "period=2026-11&team=L1")],
                               "share": "/dashboard?period=2026-11&team=L1", "lang_next": "%2Fdashboard",
                               "crm_link": lambda n: f"https://crm.example.ru/requests/{n}" if n else None},
            "cabinet.html": {"cab": cabinet, "prefs": prefs, "saved": True, "problem": "prefs_invalid",
                             "problem_detail": "quiet: '25:00-08:00' is not quiet hours"},
            "login.html": {"next": "/dashboard", "failed": True},
            "message.html": {"title": "Ссылка не работает", "key": "refused_forged"},
            # each kind asking (said None) and answered; the check renders the last of each file
            "confirm.html": {"kind": "unsubscribe", "facts": {"address": "m.ivanova@example.ru"},
                             "said": "unsubscribe_done", "cabinet_url": None}}


def _confirm_samples() -> list[dict[str, Any]]:
    """Every state of ``confirm.html``: each kind asking, and each of its answers."""
    facts = {"number": "CRM-0000042", "subject": "x", "status": "resolved", "address": "m.ivanova@example.ru"}
    out: list[dict[str, Any]] = []
    for kind, answers in (("unsubscribe", ("done", "already")), ("close", ("done", "already", "refused")),
                          ("reopen", ("done", "already", "refused"))):
        out += [{"kind": kind, "facts": facts, "said": said, "cabinet_url": "/cabinet/t0k3n"}
                for said in (None, *(f"{kind}_{a}" for a in answers))]
    return out


def check_pages(app: App) -> list[dict[str, Any]]:
    """``crm-bridge check`` lines: every page in every language rendered against samples."""
    pages = Pages(app.config.section("web"))
    problems: list[str] = []
    now = datetime(2027, 1, 11, 7, 56, tzinfo=UTC)
    samples = _samples(now)
    board = samples["dashboard.html"]["board"]
    # the dashboard without a period too: the breached list is then today's, with other columns
    now_view = {**samples["dashboard.html"], "view": View(),
                "board": {**board, "breached_in": None, "breached": [{**board["at_risk"][0], "left": None}]}}
    cases = [*samples.items(), ("dashboard.html", now_view), *(("confirm.html", c) for c in _confirm_samples())]
    for name, context in cases:
        for lang in LANGUAGES:
            try:
                pages.render(name, lang, here="/", csrf="sample", user="lead", can_logout=True, zone="Europe/Moscow",
                             **context)
            except TemplateError as exc:
                place = next((f"{f.filename}:{f.lineno}" for f in reversed(traceback.extract_tb(exc.__traceback__))
                              if f.filename.endswith(".html")), name)
                problem = f"{place}: {exc.message or exc} (rendering the sample {name} in {lang})"
                if problem not in problems:  # confirm.html has a sample per state: one line per mistake
                    problems.append(problem)
                break
    if problems:
        return [{"what": "web pages", "ok": False, "detail": p} for p in problems]
    where = ", ".join(str(f) for f in pages.folders)
    unset = "" if app.config.section("links").secret is not None else "; `crm-bridge web` needs links.secret to start"
    return [{"what": "web pages", "ok": True,
             "detail": f"{len(_samples(now))} pages x {len(LANGUAGES)} languages render ({where}){unset}"}]
