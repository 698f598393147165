"""Benchmark of notify's delivery path: mails rendered and accepted per second by a local
SMTP server, against what a hand-written script does, in the same run.

    python benchmarks/notify_bench.py [--mails 2000] [--lang ru]

Both sides render the shipped acknowledgement (subject, text, HTML, ru or en, Babel dates
in the customer's zone) for `mails` requests and hand each mail to an aiosmtpd server on
loopback (``notify.sink.SmtpSink``); the sink's count proves every mail arrived.

* crm-bridge: one sandboxed environment whose compiled templates are cached
  (``notify.templates.Templates``), one SMTP session reused for the whole pass
  (``notify.channels.smtp.Mailer``), as ``notify.dispatch`` does;
* naive: a fresh Jinja2 environment reading and compiling the templates for every mail and
  a new SMTP connection (connect, EHLO, MAIL, RCPT, DATA, QUIT) per mail, as a script
  looping over the events would.

With ``--events N`` (e.g. 100000) it measures the customer path instead: N status changes
of N/10 contacts over a working day, each contact's preferences deciding (``notify.prefs.plan``:
60 % immediately, 25 % hourly and 15 % daily digests, a tenth with quiet hours 22:00–08:00,
a fifth in English), every notification rendered (``Templates``), one recipient's
digest rows folded (``notify.digest.fold``) into one mail (``digest_message``), all over one
SMTP session into the sink, which only counts (``SmtpSink(keep=False)``). Contacts are
streamed one after another, so memory holds one contact's rows: the peak RSS is printed
after a tenth of the events and at the end. The naive side mails every event on its own
(compile per mail, connect per mail) — measured on the first ``--naive-sample`` events
(default 2,000; at its rate 100,000 would take half an hour), the rate compared per
notification.

    python benchmarks/notify_bench.py --events 100000 [--naive-sample 2000]

Not measured yet: the outbox's store share (rows written, claimed and recorded in the
database) and rate limits.
"""

from __future__ import annotations

import argparse
import resource
import smtplib
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as time_of_day
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from notify.channels.smtp import Mailer, build_message
from notify.compose import sample_contexts
from notify.digest import digest_message, fold
from notify.outgoing import Outgoing
from notify.prefs import Effective, plan
from notify.settings import EmailChannel, QuietHours
from notify.sink import SmtpSink
from notify.templates import SHIPPED, Rendered, Templates, _datetime_filter

NOW = datetime(2027, 1, 11, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
_QUIET = QuietHours.model_validate({"from": "22:00", "to": "08:00"})


def contexts(n: int, lang: str) -> list[dict[str, Any]]:
    """`n` acknowledgement contexts, one request each (its own number and due dates)."""
    _, base = sample_contexts("acknowledgement", lang)[0]
    out = []
    for i in range(n):
        request = {**base["request"], "number": f"CRM-{i:07d}",
                   "resolution_due": NOW + timedelta(hours=i % 48), "first_response_due": NOW + timedelta(minutes=i % 90)}
        out.append({**base, "request": request})
    return out


def ours(channel: EmailChannel, items: list[dict[str, Any]], lang: str) -> float:
    templates = Templates()
    started = time.perf_counter()
    with Mailer(channel) as mailer:
        for i, context in enumerate(items):
            rendered = templates.render("acknowledgement", lang, context)
            mailer.send(build_message(channel, rendered, to=f"c{i}@example.ru", to_name=None,
                                      message_id=f"<ack.{i}@bench>", thread_root=None, date=NOW, unsubscribe=None))
    return len(items) / (time.perf_counter() - started)


def naive(channel: EmailChannel, items: list[dict[str, Any]], lang: str) -> float:
    started = time.perf_counter()
    for i, context in enumerate(items):
        env = SandboxedEnvironment(loader=FileSystemLoader(str(SHIPPED)), undefined=StrictUndefined,
                                   trim_blocks=True, lstrip_blocks=True)
        env.filters["datetime"] = _datetime_filter
        parts = [env.get_template(f"{lang}/acknowledgement.{p}").render(context) for p in ("subject.txt", "txt", "html")]
        rendered = Rendered(" ".join(parts[0].split()), parts[1].strip() + "\n", parts[2])
        message = build_message(channel, rendered, to=f"n{i}@example.ru", to_name=None, message_id=f"<naive.{i}@bench>",
                                thread_root=None, date=NOW, unsubscribe=None)
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            smtp.send_message(message)
    return len(items) / (time.perf_counter() - started)


def _prefs(contact: int) -> Effective:
    """Contact `contact`'s preferences: the mix the module docstring describes."""
    slot = contact % 20
    frequency = "daily" if slot < 3 else "hourly" if slot < 8 else "immediately"
    return Effective(channels=("email",), events=frozenset({"status_changed"}), frequency=frequency,
                     digest_at=time_of_day(9, 0), quiet=_QUIET if contact % 10 == 7 else None,
                     language="en" if contact % 5 == 4 else "ru", timezone="Europe/Moscow",
                     addresses={"email": f"contact{contact}@example.ru"}, opt_outs={}, sources={})


def _events(n: int) -> Iterator[tuple[int, list[tuple[int, datetime]]]]:
    """(contact, [(event number, when)]): ten status changes a contact, streamed."""
    for contact in range((n + 9) // 10):
        first = contact * 10
        yield contact, [(i, NOW + timedelta(minutes=contact % 60 + 37 * (i - first))) for i in range(first, min(first + 10, n))]


def ours_events(channel: EmailChannel, n: int) -> tuple[float, int, int, list[tuple[int, int]]]:
    """(notifications/s, mails sent, digests among them, [(events done, peak RSS KiB)])."""
    templates = Templates()
    bases = {lang: sample_contexts("status_changed", lang)[0][1] for lang in ("ru", "en")}
    mails = digests = done = 0
    rss: list[tuple[int, int]] = []
    started = time.perf_counter()
    with Mailer(channel) as mailer:
        for contact, events in _events(n):
            prefs = _prefs(contact)
            waiting: dict[datetime, list[Outgoing]] = {}  # this contact's digest rows by digest instant
            for i, at in events:
                for d in plan(prefs, "status_changed", at):
                    base = bases[prefs.language]
                    context = {**base, "request": {**base["request"], "number": f"CRM-{i:07d}"}}
                    row = Outgoing(i, d.address, None, "customer", "status_changed", prefs.language, prefs.timezone,
                                   f"<ev.{i}@bench>", None, templates.render("status_changed", prefs.language, context), None)
                    if d.fold is None and d.due == at:
                        mailer.send(row.message(channel, at))
                        mails += 1
                    else:  # a digest, or after quiet hours: with whatever else falls due then
                        waiting.setdefault(d.due, []).append(row)
            for due, rows in waiting.items():
                for group in fold(rows, 2):
                    mailer.send(digest_message(channel, group, templates, due) if len(group) > 1 else group[0].message(channel, due))
                    mails += 1
                    digests += len(group) > 1
            done += len(events)
            if done == n // 10 or done == n:
                rss.append((done, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    return n / (time.perf_counter() - started), mails, digests, rss


def events_mode(n: int, sample: int) -> int:
    with SmtpSink(keep=False) as sink:
        channel = EmailChannel.model_validate({"host": sink.host, "port": sink.port, "tls": "none",
                                               "from": "Поддержка <support@example.ru>"})
        mine, mails, digests, rss = ours_events(channel, n)
        time.sleep(0.2)  # the sink's handler thread takes the last message
        arrived = sink.accepted
        theirs = naive(channel, contexts(sample, "ru"), "ru")
        time.sleep(0.2)
        naive_arrived = sink.accepted - arrived
    print(f"{n:,} customer events through preferences, digests and rendering into a local SMTP server:")
    print(f"  crm-bridge (prefs, digests, cached templates, one session) {mine:>9,.0f} notifications/s "
          f"({mails:,} mails, {digests:,} of them digests)")
    print(f"  naive (a mail per event, compile and connect per mail)      {theirs:>9,.0f} notifications/s "
          f"(first {sample:,} events)")
    print(f"  ratio                                                       {mine / theirs:>9.2f}x")
    for done, peak in rss:
        print(f"  peak RSS after {done:>9,} events: {peak / 1024:,.0f} MiB")
    if arrived != mails or naive_arrived != sample:
        print(f"the sink accepted {arrived} + {naive_arrived} mails, not {mails} + {sample}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Example: python benchmarks/notify_bench.py --events 100000")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--lang", choices=("ru", "en"), default="ru")
    parser.add_argument("--events", type=int, default=0, help="customer events through preferences and digests")
    parser.add_argument("--naive-sample", type=int, default=2000, help="events the naive side mails (--events)")
    args = parser.parse_args(argv)
    if args.events:
        return events_mode(args.events, min(args.naive_sample, args.events))
    items = contexts(args.mails, args.lang)
    with SmtpSink() as sink:
        channel = EmailChannel.model_validate({"host": sink.host, "port": sink.port, "tls": "none",
                                               "from": "Поддержка <support@example.ru>"})
        mine = ours(channel, items, args.lang)
        theirs = naive(channel, items, args.lang)
        time.sleep(0.2)  # the sink's handler thread takes the last message
        arrived = len(sink.messages)
    print(f"{args.mails:,} acknowledgements ({args.lang}) rendered and accepted by a local SMTP server:")
    print(f"  crm-bridge (cached templates, one SMTP session) {mine:>9,.0f} mails/s")
    print(f"  naive (compile per mail, connect per mail)      {theirs:>9,.0f} mails/s")
    print(f"  ratio                                           {mine / theirs:>9.2f}x")
    if arrived != 2 * args.mails:
        print(f"the sink received {arrived} mails, not {2 * args.mails}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
