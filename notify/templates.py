"""Mail templates: sandboxed Jinja2 files the user can override, dates through Babel.

Each event has three files per language in ``<lang>/``: ``<event>.subject.txt``,
``<event>.txt`` (plain text) and ``<event>.html`` (autoescaped); other channels add
``<event>.sms.txt`` (SMS) and ``telegram.html`` (a Telegram message around the mail's
subject and text; ``<event>.telegram.html`` overrides it for one event). The search path is the
user's folder (``notify.templates``) first, then the shipped ``notify/templates``: a user
overrides one file by saving one of the same name. ``StrictUndefined`` makes an unknown
placeholder an error, and ``crm-bridge check`` renders every file against sample requests
(``check_templates``), so a typo is found with its file and line there, never at send time.

Dates go through the ``datetime`` filter: Babel in the recipient's language and zone,
``{{ request.resolution_due | datetime }}`` → ``12 января 2027, 10:56 (МСК)``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import get_global
from babel.dates import format_datetime, get_timezone_gmt
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from crm_bridge.errors import ConfigError
from notify.events import EVENTS

__all__ = ["DIGEST", "EVENTS", "PARTS", "SHIPPED", "Rendered", "TemplateProblem", "Templates", "format_when", "zone_label"]

SHIPPED = Path(__file__).parent / "templates"
DIGEST = "digest"  # several rows to one recipient in one mail (notify.digest)
PARTS = ("subject.txt", "txt", "html")
DATE_FORMAT = "d MMMM y, HH:mm"
_MOSCOW = ZoneInfo("Europe/Moscow")


class TemplateProblem(ConfigError):
    """A template does not compile or render: the file and line, and what is wrong."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")
        self.file, self.line = file, line


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def zone_label(at: datetime, zone: ZoneInfo, lang: str) -> str:
    """How people name the zone of `at`: Russian zones relative to Moscow, as Russians
    write them (``МСК``, ``МСК+2``; ``MSK+2`` in English), any other as ``GMT+01:00``."""
    if get_global("zone_territories").get(zone.key) == "RU":
        local, moscow = at.astimezone(zone).utcoffset(), at.astimezone(_MOSCOW).utcoffset()
        assert local is not None
        assert moscow is not None
        hours = round((local - moscow).total_seconds() / 3600)
        base = "МСК" if lang == "ru" else "MSK"
        return base if hours == 0 else f"{base}{hours:+d}"
    return str(get_timezone_gmt(at.astimezone(zone), width="long", locale=lang))


def format_when(at: datetime | None, zone: str, lang: str, pattern: str = DATE_FORMAT) -> str:
    """An instant for people: ``12 января 2027, 10:56 (МСК)``; ``—`` for none."""
    if at is None:
        return "—"
    tz = ZoneInfo(zone)
    return f"{format_datetime(at, pattern, tzinfo=tz, locale=lang)} ({zone_label(at, tz, lang)})"


@pass_context
def _datetime_filter(context: Context, at: datetime | None, pattern: str = DATE_FORMAT) -> str:
    return format_when(at, str(context["timezone"]), str(context["lang"]), pattern)


class Templates:
    """The template files of a configuration: the user's folder first, then the shipped ones."""

    def __init__(self, user_folder: Path | None = None) -> None:
        self.folders = [*([user_folder] if user_folder is not None else []), SHIPPED]
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader([str(f) for f in self.folders]),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        self._env.filters["datetime"] = _datetime_filter

    def names(self, event: str, lang: str) -> list[str]:
        return [f"{lang}/{event}.{part}" for part in PARTS]

    def file_of(self, name: str) -> str:
        """The file a template name resolves to (the user's, when they saved one)."""
        for folder in self.folders:
            if (folder / name).is_file():
                return str(folder / name)
        return name

    def render(self, event: str, lang: str, context: dict[str, Any]) -> Rendered:
        """Subject, plain text and HTML of `event` in `lang`.

        Raises:
            TemplateProblem: a file is missing, does not compile or does not render (an
                unknown placeholder), with its file and line.
        """
        out: list[str] = []
        for name in self.names(event, lang):
            out.append(self._render_one(name, context))
        subject = " ".join(out[0].split())  # one line: a line break in a header would end it
        return Rendered(subject, out[1].strip() + "\n", out[2])

    def exists(self, name: str) -> bool:
        """Whether a file `name` (``ru/sla_breach.telegram.html``) is in the search path."""
        return any((folder / name).is_file() for folder in self.folders)

    def render_file(self, name: str, context: dict[str, Any]) -> str:
        """One file (``ru/acknowledgement.sms.txt``) rendered: what other channels than mail
        use. Raises ``TemplateProblem`` like ``render``."""
        return self._render_one(name, context)

    def _render_one(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(exc.filename or self.file_of(name), exc.lineno, exc.message or str(exc)) from exc
        except TemplateError as exc:  # an undefined placeholder, a sandbox refusal, a missing file
            file, line = self._place(exc, name)
            raise TemplateProblem(file, line, _describe(exc)) from exc
        except Exception as exc:  # a filter meeting a wrong value: still the template's fault
            file, line = self._place(exc, name)
            raise TemplateProblem(file, line, f"{type(exc).__name__}: {exc}") from exc

    def _place(self, exc: BaseException, name: str) -> tuple[str, int | None]:
        """The innermost template frame of the traceback (Jinja rewrites it to the template's lines)."""
        files = {str(f.resolve()) for f in self.folders}
        found: tuple[str, int | None] = (self.file_of(name), None)
        for frame in traceback.extract_tb(exc.__traceback__):
            path = Path(frame.filename)
            if path.suffix in (".txt", ".html", ".j2") and any(str(path.resolve()).startswith(f) for f in files):
                found = (frame.filename, frame.lineno)
        return found


def _describe(exc: TemplateError) -> str:
    text = exc.message or str(exc)
    if type(exc).__name__ == "UndefinedError":
        return f"unknown placeholder: {text} (see the placeholders in notify/README.md)"
    if type(exc).__name__ == "TemplateNotFound":
        return f"no template {text}: save it in your templates folder or remove the event from notify's configuration"
    return text
