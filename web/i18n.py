"""The words of the pages in Russian and English, and the visitor's language: the ``lang``
cookie (set by the switch on every page), else the best of ``Accept-Language``, else
Russian. Dates go through Babel (``notify.templates.format_when``), not through this table.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "MESSAGES", "choose_language"]

LANGUAGES = ("ru", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "ru": {
        "product": "Служба поддержки", "switch": "English", "login": "Вход", "login_button": "Войти",
        "user": "Логин", "password": "Пароль", "logout": "Выйти", "bad_login": "Неверный логин или пароль.",
        "no_login": "Вход не настроен: добавьте web.users или web.proxy в конфигурацию.",
        "dashboard": "Панель руководителя", "open_by_team": "Открытые обращения по группам",
        "team": "Группа", "no_team": "(без группы)", "total": "Всего", "at_risk": "Скоро нарушение SLA",
        "breached": "SLA нарушен", "routing_queue": "Ждут назначения", "parked_mails": "Уведомления не отправлены",
        "needs_person": "Требует внимания", "nothing": "Нет.", "number": "Номер", "subject": "Тема",
        "status": "Статус", "due": "Срок", "assignee": "Исполнитель", "waiting": "ждут", "oldest": "самое старое",
        "cabinet": "Ваши обращения", "cabinet_empty": "Открытых обращений нет.",
        "prefs_later": "Настройка уведомлений появится здесь.",
        "refused_title": "Ссылка не работает", "refused_forged": "Эта ссылка повреждена или не наша. "
        "Откройте её из письма целиком или напишите нам в ответ на письмо.",
        "refused_expired": "Срок действия ссылки истёк. Откройте ссылку из последнего письма.",
        "refused_not_for_this": "Эта ссылка предназначена для другой страницы.",
        "forbidden": "Недостаточно прав", "csrf": "Форма устарела: обновите страницу и отправьте её ещё раз.",
        "status_new": "Новое", "status_in_progress": "В работе", "status_waiting_customer": "Ждём вашего ответа",
        "status_resolved": "Решено",
        "status_closed": "Закрыто", "status_cancelled": "Отменено",
        "staff_status_waiting_customer": "Ждёт клиента",
    },
    "en": {
        "product": "Support", "switch": "Русский", "login": "Log in", "login_button": "Log in",
        "user": "Login", "password": "Password", "logout": "Log out", "bad_login": "Wrong login or password.",
        "no_login": "Login is not set up: add web.users or web.proxy to the configuration.",
        "dashboard": "Supervisor dashboard", "open_by_team": "Open requests by team",
        "team": "Team", "no_team": "(no team)", "total": "Total", "at_risk": "About to breach SLA",
        "breached": "SLA breached", "routing_queue": "Waiting for an agent", "parked_mails": "Notifications not sent",
        "needs_person": "Needs a person", "nothing": "None.", "number": "Number", "subject": "Subject",
        "status": "Status", "due": "Due", "assignee": "Assignee", "waiting": "waiting", "oldest": "oldest",
        "cabinet": "Your requests", "cabinet_empty": "You have no open requests.",
        "prefs_later": "Notification settings will appear here.",
        "refused_title": "This link does not work", "refused_forged": "This link is damaged or not ours. "
        "Open it whole from the mail, or reply to the mail.",
        "refused_expired": "This link has expired. Open the link in our latest mail.",
        "refused_not_for_this": "This link is meant for another page.",
        "forbidden": "Not allowed", "csrf": "The form is out of date: reload the page and send it again.",
        "status_new": "New", "status_in_progress": "In progress", "status_waiting_customer": "Waiting for you",
        "status_resolved": "Resolved",
        "status_closed": "Closed", "status_cancelled": "Cancelled",
        "staff_status_waiting_customer": "Waiting for the customer",
    },
}


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """``ru`` or ``en``: the cookie's if it names one, else the first of ``Accept-Language``
    (by its q-values) we speak, else ``ru``."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, index, tag.strip().lower().split("-")[0]))
    for q, _, lang in sorted(ranked):
        if q < 0 and lang in LANGUAGES:
            return lang
    return "ru"


# The csat addon's customer event: the cabinet's preferences form (on main after this
# branch was cut) lists every customer event by its `ev_<event>` words.
MESSAGES["ru"]["ev_csat_survey"] = "Опрос о качестве после решения"
MESSAGES["en"]["ev_csat_survey"] = "Satisfaction survey after resolution"
