"""Time off imported from a file: a CSV a spreadsheet exports, or an iCalendar (.ics)
export of a leave calendar. The parsing is pure; ``read_time_off`` reads the file.

``routing.time_off_files`` names the files, relative to the configuration file. They are
read at ``check`` (a problem fails it at the file's line) and again at every
``routing.tick``, so an edited file applies without a restart; a file broken since the
last good read is reported in the log and its last good contents are kept.

CSV (UTF-8, a header line, ``#`` comments)::

    agent,from,to,reason
    Иванова Мария Петровна,2026-12-28,2027-01-08,отпуск
    petrov@example.ru,2026-11-24,2026-11-24,sick

``agent``: the agent's key under ``routing.agents``, the CRM user's name or e-mail;
``from``/``to``: days, both included; ``reason`` is optional.

iCalendar: each ``VEVENT`` is a leave; the agent is the ``ATTENDEE`` (``mailto:`` e-mail)
or, without one, the ``SUMMARY`` up to its first ``:`` or `` - `` ("petrov@example.ru: отпуск",
"Иванова Мария Петровна - sick"), the rest of the summary being the reason. All-day events
(``DTSTART;VALUE=DATE``) end the day before ``DTEND`` (RFC 5545: the end is exclusive);
timed events cover the days they touch, read in the configuration's time zone. Recurring
events (``RRULE``) are refused: a leave calendar repeats nothing, and guessing is worse.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from crm_bridge.errors import ConfigError

__all__ = ["TimeOff", "TimeOffFileError", "parse_time_off", "read_time_off"]


class TimeOffFileError(ConfigError):
    """A time-off file cannot be read: the message names the file and line, and the fix."""


@dataclass(frozen=True, slots=True)
class TimeOff:
    agent: str  # as the file names them: a key, a CRM user's name or an e-mail
    from_: date
    to: date
    reason: str
    line: int  # where in the file, for messages


def _problem(file: str, line: int, message: str) -> TimeOffFileError:
    return TimeOffFileError(f"{file}:{line}: {message}")


def _day(value: str, file: str, line: int, column: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _problem(file, line, f"{column} {value.strip()!r} is not a date; write it as 2026-12-28") from None


def parse_csv(text: str, file: str) -> list[TimeOff]:
    """The leaves of a CSV ``agent,from,to[,reason]`` (header required)."""
    lines = [(n, row) for n, row in enumerate(text.splitlines(), 1) if row.strip() and not row.lstrip().startswith("#")]
    if not lines:
        return []
    header_line, header = lines[0]
    columns = [c.strip().lower() for c in next(csv.reader([header]))]
    missing = [c for c in ("agent", "from", "to") if c not in columns]
    if missing:
        raise _problem(file, header_line, f"the header needs the columns agent,from,to[,reason]; "
                                          f"missing {', '.join(missing)} (found {', '.join(columns)})")
    found: list[TimeOff] = []
    for number, raw in lines[1:]:
        cells = next(csv.reader(io.StringIO(raw)))
        if len(cells) > len(columns):
            raise _problem(file, number, f"{len(cells)} values for {len(columns)} columns; quote a value holding a comma")
        row = dict(zip(columns, [c.strip() for c in cells], strict=False))
        if not row.get("agent"):
            raise _problem(file, number, "no agent; write the agent's name or e-mail first")
        if not row.get("from") or not row.get("to"):
            raise _problem(file, number, "from and to are both needed (the same day twice for one day)")
        start, end = _day(row["from"], file, number, "from"), _day(row["to"], file, number, "to")
        if end < start:
            raise _problem(file, number, f"time off ends ({end}) before it starts ({start}); swap from and to")
        found.append(TimeOff(row["agent"], start, end, row.get("reason", ""), number))
    return found


def _unfold(text: str) -> list[tuple[int, str]]:
    """Content lines with their first physical line number (RFC 5545 §3.1 folding)."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + raw[1:])
        elif raw.strip():
            out.append((number, raw))
    return out


def _ics_instant(params: str, value: str, zone: ZoneInfo, file: str, line: int, *, end: bool) -> date:
    value = value.strip()
    try:
        if "VALUE=DATE" in params.upper() and "VALUE=DATE-TIME" not in params.upper() or len(value) == 8:
            day = datetime.strptime(value, "%Y%m%d").replace(tzinfo=UTC).date()
            return day - timedelta(days=1) if end else day
        instant = datetime.strptime(value.rstrip("Z") + "+0000", "%Y%m%dT%H%M%S%z")  # the zone is set below
    except ValueError:
        raise _problem(file, line, f"{value!r} is not an iCalendar date (20261228) or date-time (20261228T090000Z)") from None
    tzid = next((p.split("=", 1)[1] for p in params.split(";") if p.upper().startswith("TZID=")), None)
    try:
        source = UTC if value.endswith("Z") else ZoneInfo(tzid) if tzid else zone
    except (KeyError, ValueError):
        raise _problem(file, line, f"unknown time zone TZID={tzid}; use an IANA name like Europe/Moscow") from None
    local = instant.replace(tzinfo=source).astimezone(zone)  # same wall time, its real zone
    if end and local.time() == datetime.min.time():  # ends at midnight: the day before is the last
        return (local - timedelta(days=1)).date()
    return local.date()


def _ics_agent(event: dict[str, tuple[int, str, str]]) -> tuple[str, str] | None:
    if "ATTENDEE" in event:
        address = event["ATTENDEE"][2]
        address = address[7:] if address.lower().startswith("mailto:") else address
        return address.strip(), event.get("SUMMARY", (0, "", ""))[2].strip()
    if "SUMMARY" not in event:
        return None
    summary = event["SUMMARY"][2].replace("\\,", ",")
    for sep in (":", " - "):
        if sep in summary:
            who, why = summary.split(sep, 1)
            return who.strip(), why.strip()
    return summary.strip(), ""


def parse_ics(text: str, file: str, zone: ZoneInfo) -> list[TimeOff]:
    """The leaves of an iCalendar file: one per ``VEVENT`` (see the module)."""
    found: list[TimeOff] = []
    event: dict[str, tuple[int, str, str]] | None = None
    began = 0
    for number, content in _unfold(text):
        name_part, _, value = content.partition(":")
        name, _, params = name_part.partition(";")
        name = name.upper()
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            event, began = {}, number
        elif name == "END" and value.strip().upper() == "VEVENT" and event is not None:
            found.append(_ics_event(event, began, file, zone))
            event = None
        elif event is not None and name not in event:
            event[name] = (number, params, value)
    if event is not None:
        raise _problem(file, began, "this VEVENT has no END:VEVENT; the file is cut short")
    return found


def _ics_event(event: dict[str, tuple[int, str, str]], began: int, file: str, zone: ZoneInfo) -> TimeOff:
    if "RRULE" in event:
        raise _problem(file, event["RRULE"][0], "a recurring time off (RRULE) is not supported; list each leave as its own event")
    if "DTSTART" not in event:
        raise _problem(file, began, "this VEVENT has no DTSTART; give the first day off")
    line, params, value = event["DTSTART"]
    start = _ics_instant(params, value, zone, file, line, end=False)
    if "DTEND" in event:
        line, params, value = event["DTEND"]
        end = max(start, _ics_instant(params, value, zone, file, line, end=True))
    else:
        end = start
    who = _ics_agent(event)
    if who is None or not who[0]:
        raise _problem(file, began, "this VEVENT names no agent: add ATTENDEE:mailto:<e-mail> or a SUMMARY "
                                    "'<agent>: <reason>'")
    return TimeOff(who[0], start, end, who[1], event.get("ATTENDEE", event.get("SUMMARY", (began, "", "")))[0])


def parse_time_off(text: str, file: str, zone: ZoneInfo) -> list[TimeOff]:
    """The leaves in `text`, by the file's extension: ``.ics`` iCalendar, else CSV."""
    return parse_ics(text, file, zone) if file.lower().endswith(".ics") else parse_csv(text, file)


def read_time_off(path: Path, zone: ZoneInfo, *, shown: str | None = None) -> list[TimeOff]:
    """Read and parse the file at `path` (`shown`: the name messages give, default the path)."""
    file = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TimeOffFileError(f"{file}: no such file; check routing.time_off_files (relative to the configuration file)") from None
    except UnicodeDecodeError as exc:
        raise TimeOffFileError(f"{file}: not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise TimeOffFileError(f"{file}: cannot be read ({exc.strerror}); check its permissions") from None
    return parse_time_off(text, file, zone)
