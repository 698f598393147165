"""The words of the pages in Russian and English, and the visitor's language: the ``lang``
cookie (set by the switch on every page), else the best of ``Accept-Language``, else
Russian. Dates go through Babel (``notify.templates.format_when``), not through this table.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "MESSAGES", "choose_language", "duration_text"]

LANGUAGES = ("ru", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "ru": {
        "product": "Служба поддержки", "switch": "English", "login": "Вход", "login_button": "Войти",
        "user": "Логин", "password": "Пароль", "logout": "Выйти", "bad_login": "Неверный логин или пароль.",
        "no_login": "Вход не настроен: добавьте web.users или web.proxy в конфигурацию.",
        "chart_volume_of": "Новые обращения по дням и каналам", "chart_sla_of": "SLA соблюдён, по целям",
        "chart_backlog_of": "Открытые обращения по возрасту на конец периода",
        "chart_csat_of": "Оценка клиентов по неделям (1–5)", "chart_load_of": "Загрузка на конец периода: открыто / предел",
        "view_title": "Показать", "view_period": "Период", "view_team": "Группа", "view_agent": "Исполнитель",
        "view_channel": "Канал", "view_any": "все", "view_show": "Показать", "view_reset": "Сбросить",
        "view_default": "по умолчанию: 14 дней, SLA за 30 дней, оценки за 8 недель",
        "view_presets": "Быстро:", "view_link": "Ссылка на этот вид",
        "view_hint": "Например: 2026-11 (месяц), 2026-Q4 (квартал), 2026 (год), 2026-11-01..2026-11-15, last-30d",
        "view_lists_now": "Списки ниже — текущее состояние обращений выбранной группы, исполнителя и канала.",
        "view_bad_period": "Не понимаю период «{value}». Введите, например, 2026-11 (месяц), 2026-Q4 (квартал), 2026 (год), 2026-11-01..2026-11-15 (дни) или last-30d. Показано по умолчанию.",
        "view_future_period": "Период «{value}» ещё не начался. Показано по умолчанию.",
        "view_long_period": "Период «{value}» длиннее года: выберите не больше года. Показано по умолчанию.",
        "view_unknown_team": "Группы «{value}» нет. Выберите из списка. Показано по умолчанию.",
        "view_unknown_agent": "Исполнителя «{value}» нет. Выберите из списка. Показано по умолчанию.",
        "view_unknown_channel": "Обращений из канала «{value}» нет. Выберите из списка. Показано по умолчанию.",
        "kpi": "Показатели", "chart_volume": "Новые обращения по дням и каналам, 14 дней",
        "chart_sla": "SLA соблюдён, по целям, 30 дней", "metric_first_response": "Первый ответ",
        "metric_resolution": "Решение", "chart_backlog": "Открытые обращения по возрасту",
        "chart_csat": "Оценка клиентов по неделям (1–5)", "chart_load": "Загрузка исполнителей: открыто / предел",
        "hours_short": "ч", "days_short": "дн", "breached_by": "SLA нарушен: по группам и исполнителям",
        "count": "Сколько", "conflicts": "Конфликты: поле изменено с обеих сторон", "record": "Запись",
        "field": "Поле", "ours": "crm-bridge", "theirs": "CRM", "take_local": "Взять наше", "take_remote": "Взять из CRM",
        "parked_jobs": "Записи в CRM, отложенные после ошибок", "reason": "Причина", "attempts": "Попыток",
        "retry": "Повторить", "done_resolved": "Конфликт решён.", "done_retried": "Запись отправится при следующей отправке.",
        "done_nothing": "Ничего не изменено: уже решено или такой записи нет.",
        "dashboard": "Панель руководителя", "open_by_team": "Открытые обращения по группам",
        "team": "Группа", "no_team": "(без группы)", "total": "Всего", "at_risk": "Скоро нарушение SLA",
        "breached": "SLA нарушен", "routing_queue": "Ждут назначения", "parked_mails": "Уведомления не отправлены",
        "needs_person": "Требует внимания", "nothing": "Нет.", "number": "Номер", "subject": "Тема",
        "status": "Статус", "due": "Срок", "assignee": "Исполнитель", "waiting": "ждут", "oldest": "самое старое",
        "cabinet": "Ваши обращения", "cabinet_empty": "Открытых обращений нет.",
        "prefs": "Уведомления", "prefs_channels": "Куда писать", "ch_email": "Электронная почта", "ch_sms": "SMS",
        "ch_telegram": "Telegram", "addr_email": "Адрес", "addr_sms": "Телефон", "addr_telegram": "ID чата Telegram",
        "opted_out": "вы отписались", "prefs_events": "О чём сообщать", "ev_acknowledgement": "Обращение принято",
        "ev_assigned": "Назначен специалист", "ev_status_changed": "Изменился статус", "ev_resolved": "Обращение решено",
        "ev_closed": "Обращение закрыто", "ev_csat_survey": "Опрос о качестве после решения",
        "ev_waiting_reminder": "Напоминание, когда обращение ждёт моего ответа", "prefs_frequency": "Как часто", "fr_immediately": "Сразу",
        "fr_hourly": "Раз в час, сводкой", "fr_daily": "Раз в день, сводкой", "digest_at": "Время ежедневной сводки", "prefs_quiet": "Не беспокоить",
        "quiet_from": "с", "quiet_to": "до", "quiet_hint": "по вашему времени; оставьте пустым, чтобы не ограничивать",
        "prefs_language": "Язык писем", "lang_ru": "Русский", "lang_en": "English", "save": "Сохранить",
        "saved": "Настройки сохранены.", "prefs_zone": "Часовой пояс",
        "prefs_need_channel": "Выберите хотя бы один способ связи.",
        "prefs_need_event": "Выберите хотя бы одно событие.",
        "prefs_need_chat": "Для Telegram укажите ID чата (его сообщит наш бот).",
        "prefs_quiet_both": "Укажите оба времени «не беспокоить» или ни одного.",
        "prefs_invalid": "Проверьте введённые значения.", "prefs_no_contact": "По этой ссылке нет настроек уведомлений.",
        "unsubscribe_title": "Отписка от писем", "unsubscribe_ask": "Больше не присылать письма на адрес {address}?",
        "unsubscribe_button": "Отписаться", "unsubscribe_done": "Готово: писем на адрес {address} больше не будет.",
        "unsubscribe_already": "Адрес {address} уже отписан.",
        "close_title": "Закрыть обращение", "close_ask": "Проблема решена, обращение {number} можно закрыть?",
        "close_button": "Да, закрыть", "close_done": "Спасибо! Обращение {number} закрыто.",
        "close_already": "Обращение {number} уже закрыто.",
        "close_refused": "Обращение {number} сейчас не в статусе «Решено» — закрыть его по этой ссылке нельзя.",
        "reopen_title": "Открыть обращение снова", "reopen_ask": "Проблема осталась? Открыть обращение {number} снова?",
        "reopen_button": "Да, открыть снова", "reopen_done": "Обращение {number} снова в работе. Мы свяжемся с вами.",
        "reopen_already": "Обращение {number} уже в работе.",
        "reopen_refused": "Обращение {number} ещё не решено — оно и так в работе.",
        "no_request": "Обращение не найдено.", "to_cabinet": "Ваши обращения",
        "refused_title": "Ссылка не работает", "refused_forged": "Эта ссылка повреждена или не наша. "
        "Откройте её из письма целиком или напишите нам в ответ на письмо.",
        "refused_expired": "Срок действия ссылки истёк. Откройте ссылку из последнего письма.",
        "refused_not_for_this": "Эта ссылка предназначена для другой страницы.",
        "forbidden": "Недостаточно прав", "csrf": "Форма устарела: обновите страницу и отправьте её ещё раз.",
        "status_new": "Новое", "status_in_progress": "В работе", "status_waiting_customer": "Ждём вашего ответа",
        "status_resolved": "Решено",
        "status_closed": "Закрыто", "status_cancelled": "Отменено",
        "staff_status_waiting_customer": "Ждёт клиента",
        "breached_now": "SLA нарушен сейчас", "breached_during": "Нарушения SLA за {period}",
        "breached_now_hint": "Обращения, срок которых уже прошёл. Выберите период — будут показаны нарушения за него, "
        "в том числе по уже решённым обращениям.",
        "breached_during_hint": "Каждое нарушение срока, случившееся в периоде, — и по открытым обращениям, и по уже "
        "решённым; группа и исполнитель — нынешние. Сначала последние.",
        "breached_by_during": "Нарушения SLA за {period}: по группам и исполнителям",
        "at_risk_hint": "Всегда на текущий момент, какой бы период ни был выбран.",
        "view_lists_period": "Нарушения SLA — за период {period}; «Скоро нарушение SLA», открытые обращения и очереди — "
        "на текущий момент.",
        "list_first": "Показаны {shown} из {total}.", "target": "Цель", "was_due": "Срок был", "late_by": "Просрочено на",
        "late_running": "ещё не выполнено", "late_stopped": "отменено", "breaches": "Нарушений",
        "requests_count": "Обращений", "minutes_short": "мин", "seconds_short": "с",
    },
    "en": {
        "product": "Support", "switch": "Русский", "login": "Log in", "login_button": "Log in",
        "user": "Login", "password": "Password", "logout": "Log out", "bad_login": "Wrong login or password.",
        "no_login": "Login is not set up: add web.users or web.proxy to the configuration.",
        "chart_volume_of": "Requests opened per day by channel", "chart_sla_of": "SLA met per target",
        "chart_backlog_of": "Open requests by age at the period's end",
        "chart_csat_of": "Customer rating by week (1–5)", "chart_load_of": "Agent load at the period's end: open / capacity",
        "view_title": "Show", "view_period": "Period", "view_team": "Team", "view_agent": "Agent",
        "view_channel": "Channel", "view_any": "any", "view_show": "Show", "view_reset": "Reset",
        "view_default": "default: 14 days, SLA over 30 days, ratings over 8 weeks",
        "view_presets": "Quick:", "view_link": "Link to this view",
        "view_hint": "For example: 2026-11 (a month), 2026-Q4 (a quarter), 2026 (a year), 2026-11-01..2026-11-15, last-30d",
        "view_lists_now": "The lists below are today's state of the chosen team's, agent's and channel's requests.",
        "view_bad_period": "\"{value}\" is not a period. Type e.g. 2026-11 (a month), 2026-Q4 (a quarter), 2026 (a year), 2026-11-01..2026-11-15 (days) or last-30d. Showing the default.",
        "view_future_period": "The period \"{value}\" has not started yet. Showing the default.",
        "view_long_period": "The period \"{value}\" is longer than a year: choose a year at most. Showing the default.",
        "view_unknown_team": "There is no team \"{value}\". Pick one from the list. Showing the default.",
        "view_unknown_agent": "There is no agent \"{value}\". Pick one from the list. Showing the default.",
        "view_unknown_channel": "No request came through the channel \"{value}\". Pick one from the list. Showing the default.",
        "kpi": "Key figures", "chart_volume": "Requests opened per day by channel, 14 days",
        "chart_sla": "SLA met per target, 30 days", "metric_first_response": "First response",
        "metric_resolution": "Resolution", "chart_backlog": "Open requests by age",
        "chart_csat": "Customer rating by week (1–5)", "chart_load": "Agent load: open / capacity",
        "hours_short": "h", "days_short": "d", "breached_by": "SLA breached by team and agent",
        "count": "How many", "conflicts": "Conflicts: a field changed on both sides", "record": "Record",
        "field": "Field", "ours": "crm-bridge", "theirs": "CRM", "take_local": "Take ours", "take_remote": "Take the CRM's",
        "parked_jobs": "Writes to the CRM parked after errors", "reason": "Reason", "attempts": "Attempts",
        "retry": "Retry", "done_resolved": "Conflict resolved.", "done_retried": "The row will be sent at the next dispatch.",
        "done_nothing": "Nothing changed: already settled, or no such row.",
        "dashboard": "Supervisor dashboard", "open_by_team": "Open requests by team",
        "team": "Team", "no_team": "(no team)", "total": "Total", "at_risk": "About to breach SLA",
        "breached": "SLA breached", "routing_queue": "Waiting for an agent", "parked_mails": "Notifications not sent",
        "needs_person": "Needs a person", "nothing": "None.", "number": "Number", "subject": "Subject",
        "status": "Status", "due": "Due", "assignee": "Assignee", "waiting": "waiting", "oldest": "oldest",
        "cabinet": "Your requests", "cabinet_empty": "You have no open requests.",
        "prefs": "Notifications", "prefs_channels": "Where to write", "ch_email": "E-mail", "ch_sms": "SMS",
        "ch_telegram": "Telegram", "addr_email": "Address", "addr_sms": "Phone", "addr_telegram": "Telegram chat id",
        "opted_out": "you unsubscribed", "prefs_events": "What to tell you", "ev_acknowledgement": "Request received",
        "ev_assigned": "An agent took it", "ev_status_changed": "Status changed", "ev_resolved": "Request resolved",
        "ev_closed": "Request closed", "ev_csat_survey": "Satisfaction survey after resolution",
        "ev_waiting_reminder": "A reminder when a request waits for my answer", "prefs_frequency": "How often", "fr_immediately": "At once",
        "fr_hourly": "Hourly, as a digest", "fr_daily": "Daily, as a digest", "digest_at": "Time of the daily digest", "prefs_quiet": "Do not disturb",
        "quiet_from": "from", "quiet_to": "to", "quiet_hint": "your time; leave empty for no quiet hours",
        "prefs_language": "Language of messages", "lang_ru": "Русский", "lang_en": "English", "save": "Save",
        "saved": "Your settings are saved.", "prefs_zone": "Time zone",
        "prefs_need_channel": "Choose at least one way to reach you.",
        "prefs_need_event": "Choose at least one event.",
        "prefs_need_chat": "Telegram needs your chat id (our bot tells it to you).",
        "prefs_quiet_both": "Give both do-not-disturb times, or neither.",
        "prefs_invalid": "Please check the values.", "prefs_no_contact": "This link has no notification settings.",
        "unsubscribe_title": "Unsubscribe", "unsubscribe_ask": "Stop sending e-mails to {address}?",
        "unsubscribe_button": "Unsubscribe", "unsubscribe_done": "Done: no more e-mails to {address}.",
        "unsubscribe_already": "{address} is already unsubscribed.",
        "close_title": "Close the request", "close_ask": "Is the problem solved — may we close request {number}?",
        "close_button": "Yes, close it", "close_done": "Thank you! Request {number} is closed.",
        "close_already": "Request {number} is already closed.",
        "close_refused": "Request {number} is not resolved right now, so this link cannot close it.",
        "reopen_title": "Reopen the request", "reopen_ask": "Still a problem? Reopen request {number}?",
        "reopen_button": "Yes, reopen it", "reopen_done": "Request {number} is open again. We will be in touch.",
        "reopen_already": "Request {number} is already being worked on.",
        "reopen_refused": "Request {number} is not resolved yet: it is still being worked on.",
        "no_request": "No such request.", "to_cabinet": "Your requests",
        "refused_title": "This link does not work", "refused_forged": "This link is damaged or not ours. "
        "Open it whole from the mail, or reply to the mail.",
        "refused_expired": "This link has expired. Open the link in our latest mail.",
        "refused_not_for_this": "This link is meant for another page.",
        "forbidden": "Not allowed", "csrf": "The form is out of date: reload the page and send it again.",
        "status_new": "New", "status_in_progress": "In progress", "status_waiting_customer": "Waiting for you",
        "status_resolved": "Resolved",
        "status_closed": "Closed", "status_cancelled": "Cancelled",
        "staff_status_waiting_customer": "Waiting for the customer",
        "breached_now": "SLA breached now", "breached_during": "SLA breached during {period}",
        "breached_now_hint": "Requests past their due time. Choose a period to see the breaches during it, "
        "resolved requests included.",
        "breached_during_hint": "Every due time missed during the period, of requests still open and resolved since; "
        "team and assignee as they are today. Latest first.",
        "breached_by_during": "SLA breached during {period} by team and agent",
        "at_risk_hint": "Always as of now, whatever the period chosen.",
        "view_lists_period": "SLA breaches: during {period}; about to breach, open requests and the queues: as of now.",
        "list_first": "Showing {shown} of {total}.", "target": "Target", "was_due": "Was due", "late_by": "Late by",
        "late_running": "not met yet", "late_stopped": "cancelled", "breaches": "Breaches",
        "requests_count": "Requests", "minutes_short": "min", "seconds_short": "s",
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



def duration_text(seconds: float, lang: str) -> str:
    """Business time for people: ``3 ч 04 мин`` / ``3 h 04 min``, ``4 h``, ``45 s``.

    Hours are never folded into days, as in ``sla.views.format_business_duration``: a
    business "day" is 8 h on one calendar and 24 h on another."""
    words = MESSAGES[lang if lang in MESSAGES else "ru"]
    whole = abs(int(seconds))
    if 0 < whole < 60:
        return f"{whole} {words['seconds_short']}"
    hours, minutes = divmod(whole // 60, 60)
    if hours and minutes:
        return f"{hours} {words['hours_short']} {minutes:02d} {words['minutes_short']}"
    return f"{hours} {words['hours_short']}" if hours else f"{minutes} {words['minutes_short']}"
