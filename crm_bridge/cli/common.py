"""What every command shares: the console, the global options and how to open the app."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from crm_bridge.addons import Addon
from crm_bridge.registry import Registry

__all__ = ["JsonFormatter", "check_logging_options", "console", "console_err", "emit_json", "open_app",
           "setup_logging", "state", "warn"]

console = Console()
console_err = Console(stderr=True)


@dataclass
class State:
    config: Path = Path(os.environ.get("CRM_BRIDGE_CONFIG", "crm-bridge.yaml"))
    json: bool = False
    registry: Registry | None = None
    addons: list[Addon] = field(default_factory=list)
    embedded: bool = False  # main(argv) called by a caller (tests): the process's collector is left as it is


state = State()


class _Redact(logging.Filter):
    """Last line of defence: a secret-looking value never reaches a log line."""

    WORDS = ("password", "secret", "token", "authorization", "auth")  # auth=: Bitrix24's access token in a URL (urllib3's debug line)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().lower()
        if any(f"{w}=" in text or f"{w}:" in text for w in self.WORDS):
            record.msg, record.args = "[redacted: the message contained a secret]", ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the ``extra`` fields
    (``event``, ``backend``, ...) that dashboards and tests match on."""

    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _RichOnFirstLine(logging.Handler):
    """rich's log handler, made when the first line is logged: importing it (pygments
    comes with it) cost a quarter of a second of every command, most of which log nothing."""

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            self._rich = RichHandler(console=console_err, show_path=False, rich_tracebacks=False)
            self._rich.setFormatter(self.formatter)
        self._rich.emit(record)


def setup_logging(level: str, fmt: str = "text") -> None:
    """Logs go to stderr: readable (rich) by default, or JSON lines with ``fmt="json"``."""
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
    else:
        handler = _RichOnFirstLine()
    handler.addFilter(_Redact())
    logging.basicConfig(level=level.upper(), handlers=[handler], format="%(message)s", force=True)
    # Long work says how far it is once a minute (crm_bridge.progress) at the default level
    # too: a cron job's log must not be silent for the hour an initial import takes.
    progress = logging.getLogger("crm_bridge.progress")
    progress.setLevel(logging.INFO if logging.getLogger().level <= logging.WARNING else logging.NOTSET)


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout, for scripts."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default), flush=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def open_app(config: Path | None = None, *, backends: bool = False) -> Any:
    """The App for the configuration file given by --config (default crm-bridge.yaml).

    A value that is probably a mistake (``$VAR`` for ``${VAR}``) is said on stderr, one
    line each, and the command goes on. `backends`: the command talks to a CRM, so a
    configuration without backends is an error rather than a run that does nothing.
    """
    from crm_bridge.app import App
    from crm_bridge.config import load_config, require_backends
    from crm_bridge.process import tune_gc

    assert state.registry is not None
    path = config or state.config
    loaded = load_config(path, state.registry, warn=warn)
    if backends:
        require_backends(loaded)
    bridge = App.build(loaded, state.registry, state.addons)
    if not state.embedded:
        tune_gc()  # the command's heavy code (store, engines, schemas) is loaded: it lives as long as the process
    return bridge


def warn(line: str) -> None:
    """One warning line on stderr, never wrapped (a file:line:column stays whole)."""
    console_err.print(f"[yellow]warning:[/yellow] {escape(line)}", soft_wrap=True, highlight=False)


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


def check_logging_options(level: str, fmt: str) -> None:
    """Refuse an unknown --log-level or --log-format in one line (exit 2), before any
    logging is set up: the logging module's own answer is a traceback."""
    from crm_bridge.errors import UsageError, did_you_mean

    if level.lower() not in LOG_LEVELS:
        raise UsageError(f"--log-level {level!r}: unknown level.{did_you_mean(level.lower(), LOG_LEVELS)} "
                         f"Use one of {', '.join(LOG_LEVELS)}.")
    if fmt.lower() not in LOG_FORMATS:
        raise UsageError(f"--log-format {fmt!r}: unknown format.{did_you_mean(fmt.lower(), LOG_FORMATS)} "
                         "Use text (for people) or json (one object per line).")
