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

Not measured yet (issue #21 asks for them): the outbox's store share, preferences and
digests, and 100,000 events with bounded memory.
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from notify.channels.smtp import Mailer, build_message
from notify.compose import sample_contexts
from notify.settings import EmailChannel
from notify.sink import SmtpSink
from notify.templates import SHIPPED, Rendered, Templates, _datetime_filter

NOW = datetime(2027, 1, 11, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--lang", choices=("ru", "en"), default="ru")
    args = parser.parse_args(argv)
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
