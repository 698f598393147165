"""Benchmark of intake's decision path: messages parsed, matched and classified per second
against 100,000 contacts, and the naive way in the same run.

    python benchmarks/intake_bench.py [--contacts 100000] [--messages 3000] [--naive-messages 100]

Both sides parse the same RFC 5322 messages (``intake.parse.parse_message``) and classify
them with the same ordered, stemmed rules; they differ in how the sender is found:

* crm-bridge: ``ContactIndex`` built once from every customer and contact (its build time
  is counted), then a few dict look-ups per message (e-mail, phones, ИНН);
* naive: every customer and contact scanned for each key of each message, as a script
  with a loop over the contact list would (``intake.match.match_by_scanning``).

Senders are a third known addresses, a third strangers who sign with a known phone, a
third strangers nobody knows. The decisions of both sides are compared: they must agree.
With ``--end-to-end N`` it also registers N messages into the 1C emulator (default
latency 0) through the whole path — stored in the inbox, decided (``intake.process``),
created and posted in 1C bind-first (``sync.dispatch``), numbers read back
(``intake.confirm``) — and prints requests registered per second, with the CPU seconds
of each phase. The emulator runs in its own process, as a real 1C is another server, and
its CPU is printed apart; ``--emulator-in-process`` runs it as threads of this process (the
way figures before 2026-12-08 were measured: its CPU counted in the phases, one GIL).
Checked: 1C holds each request once, and each local request has 1C's number.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from intake.classify import Facts, classify, compile_rule
from intake.match import ContactIndex, MatchDecision, match_by_scanning, match_sender
from intake.parse import parse_message

RULES = [
    compile_rule("outage", keywords=["не работает", "авария", "outage"], type="technical_problem", priority="high"),
    compile_rule("billing", keywords=["счёт", "оплата", "invoice"], type="consultation"),
    compile_rule("thanks", keywords=["спасибо", "благодарность"], type="feedback", priority="low"),
]
SUBJECTS = ["Не работает касса", "Вопрос по оплате счёта", "Спасибо за помощь", "Авария на складе", "Invoice missing",
            "Как подключить сотрудника"]


def dataset(contacts: int, seed: int = 7) -> tuple[list[tuple[int, str | None, str | None, str | None]],
                                                 list[tuple[int, int | None, str | None, str | None]]]:
    customers: list[tuple[int, str | None, str | None, str | None]] = [(c, f"office{c}@firm{c}.example", f"+7 495 {c // 10000:03d}-{c % 10000 // 100:02d}-{c % 100:02d}", None)
                 for c in range(1, contacts // 5 + 1)]
    people: list[tuple[int, int | None, str | None, str | None]] = [(k, 1 + k % len(customers), f"person{k}@firm{1 + k % len(customers)}.example", f"8 (916) {k // 10000:03d} {k % 10000:04d}")
              for k in range(1, contacts + 1)]
    return customers, people


def messages(count: int, contacts: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        k = rng.randrange(1, contacts + 1)
        kind = i % 3
        msg = EmailMessage()
        msg["From"] = f"person{k}@firm{1 + k % (contacts // 5)}.example" if kind == 0 else f"stranger{i}@gmail.example"
        msg["To"], msg["Subject"], msg["Message-ID"] = "support@example.ru", rng.choice(SUBJECTS), f"<m{i}@bench>"
        signature = f"\n--\nтел. 8 916 {k // 10000:03d}-{k % 10000 // 100:02d}-{k % 100:02d}" if kind == 1 else ""
        msg.set_content(f"Добрый день! {rng.choice(SUBJECTS)}. Прошу помочь.{signature}")
        out.append(msg.as_bytes())
    return out


def run(raw: list[bytes], match: object) -> tuple[float, list[MatchDecision]]:
    started = time.perf_counter()
    decided = []
    for blob in raw:
        inbound = parse_message(blob)
        who = match(inbound.sender, inbound.text)  # type: ignore[operator]
        classify(RULES, Facts(inbound.subject, inbound.text, "email", inbound.sender, who.customer_id))
        decided.append(who)
    return time.perf_counter() - started, decided


def end_to_end(count: int, *, in_process: bool = False) -> tuple[float, int, int]:
    """Seconds to register `count` messages into the emulator, how many 1C holds after, and
    how many of the local requests carry 1C's number.

    By default the emulator is another process (``python -m adapters.onec.emulator``), as a
    real 1C is another machine: the CPU printed per phase is crm-bridge's alone, and the
    emulator's is printed apart (from ``/proc/<pid>/stat``). ``in_process``: the emulator's
    threads in this process, sharing its CPU count and its GIL (the figures before 2026-12-08).
    """
    import tempfile
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)  # the base's clock: Moscow wall time
    with tempfile.TemporaryDirectory() as tmp:
        if in_process:
            from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
            from adapters.onec.emulator import Emulator

            with Emulator(requests=50, seed=3, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
                return _register(emu.base_url, Path(tmp), count, emulator_cpu=None)
        with _emulator_process(now) as (base_url, pid):
            return _register(base_url, Path(tmp), count, emulator_cpu=lambda: _process_cpu(pid))


@contextmanager
def _emulator_process(now: datetime) -> Iterator[tuple[str, int]]:
    """The emulator in its own process on a free port (the bench's seed, users and clock):
    its base URL, printed as its first line once it listens, and its process id."""
    from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD

    command = [sys.executable, "-m", "adapters.onec.emulator", "--port", "0", "--requests", "50", "--seed", "3",
               "--now", now.isoformat(), "--user", f"{DEMO_LOGIN}:{DEMO_PASSWORD}"]
    # stderr: its log, left on the terminal; the with-block closes its stdout pipe
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            base_url = child.stdout.readline().strip()
            if not base_url.startswith("http"):
                raise RuntimeError(f"the emulator did not start (exit status {child.wait()})")
            yield base_url, child.pid
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        text = stat.read()
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), counted from 1
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _register(base_url: str, tmp: Path, count: int,
              emulator_cpu: Callable[[], float] | None) -> tuple[float, int, int]:
    """Store, decide, create in 1C and read the numbers of `count` messages; print the phases."""
    from adapters.onec.cli import demo_config
    from crm_bridge.app import App

    text = demo_config(base_url, tmp / "s.db") + "    create_remote: [ticket]\n    post_created: [ticket]\n"
    # The senders are the demo's few contacts, each writing many times within the hour:
    # the flood rule (20 an hour by default) ignored all but 440 of 1,000 messages.
    app = App.from_text(text + f"intake: {{batch: {count}, flood: {{messages: {count}, within: 1h}}}}\n")
    app.upgrade_db()
    app.run_job("sync.pull")
    app.run_job("sync.dispatch")
    raw = _bench_messages(app, count)
    emulator_started = emulator_cpu() if emulator_cpu else 0.0
    started, cpu_started = time.perf_counter(), time.process_time()
    phases: dict[str, tuple[float, float]] = {}  # wall and CPU seconds of this process
    mark = [started, cpu_started]

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        phases[name] = (wall - mark[0], cpu - mark[1])
        mark[:] = [wall, cpu]

    from intake.inbox import store_message

    for blob in raw:
        store_message(app.store, blob, via="smtp")
    lap("store")
    app.run_job("intake.process")
    lap("decide")
    while app.run_job("sync.dispatch")["demo-1c"]["created"]:
        pass
    lap("create in 1C")
    app.run_job("intake.confirm")
    lap("read numbers")
    took = time.perf_counter() - started
    where = "crm-bridge" if emulator_cpu else "crm-bridge and the emulator's threads"
    print(f"  phases ({where}): " + ", ".join(f"{k} {v:.1f} s ({c:.1f} CPU s)" for k, (v, c) in phases.items())
          + f"; CPU {time.process_time() - cpu_started:.1f} s in all")
    if emulator_cpu:
        print(f"  the emulator's process: {emulator_cpu() - emulator_started:.1f} CPU s")
    numbered = _numbered(app)
    app.close()
    return took, _created_in_1c(base_url), numbered


def _bench_messages(app: Any, count: int) -> list[bytes]:
    """`count` messages from the demo's contacts (known senders: each becomes a request)."""
    from sqlalchemy import select

    from crm_bridge.store.tables import ContactRow

    with app.store.transaction() as s:
        senders = list(s.scalars(select(ContactRow.email).where(ContactRow.email.is_not(None))))
    raw = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"], msg["Subject"], msg["Message-ID"] = senders[i % len(senders)], f"Вопрос {i}: {SUBJECTS[i % 6]}", f"<e{i}@b>"
        msg.set_content("Добрый день! Прошу помочь.")
        raw.append(msg.as_bytes())
    return raw


def _created_in_1c(base_url: str) -> int:
    """How many requests crm-bridge created in 1C (its external ids), read over OData; a
    request created twice would be counted twice."""
    from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD

    query = urllib.parse.urlencode({"$select": "Ref_Key,ИдентификаторВнешний", "$format": "json"})
    request = urllib.request.Request(base_url + urllib.parse.quote("Document_Интерес") + "?" + query)
    token = base64.b64encode(f"{DEMO_LOGIN}:{DEMO_PASSWORD}".encode()).decode("ascii")
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:
        documents = json.load(answer)["value"]
    return sum(str(d.get("ИдентификаторВнешний") or "").startswith("crm-bridge:") for d in documents)


def _numbered(app: Any) -> int:
    """How many of the registered requests carry the CRM's number (read back by intake.confirm)."""
    from sqlalchemy import func, select

    from crm_bridge.store.tables import TicketRow
    from intake.tables import InboxRow

    with app.store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(InboxRow).join(TicketRow, TicketRow.id == InboxRow.ticket_id)
                            .where(InboxRow.state == "registered", TicketRow.number != "")) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--naive-messages", type=int, default=100, help="the naive side is slow: fewer messages, same rate")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N", help="also register N messages into the 1C emulator")
    parser.add_argument("--emulator-in-process", action="store_true",
                        help="run the emulator as threads of this process (its CPU and GIL shared, as before)")
    parser.add_argument("--skip-match", action="store_true", help="only the end-to-end run (with --end-to-end)")
    args = parser.parse_args(argv)
    if not args.skip_match and _match_against_naive(args.contacts, args.messages, args.naive_messages):
        return 1
    if args.end_to_end and _registered_end_to_end(args.end_to_end, in_process=args.emulator_in_process):
        return 1
    return 0


def _match_against_naive(contacts: int, count: int, naive_count: int) -> int:
    """Print the index's rate against the naive scan's; 1 when the two decided differently."""
    customers, people = dataset(contacts)
    raw = messages(count, contacts)
    started = time.perf_counter()
    index = ContactIndex.build(customers, people)
    built = time.perf_counter() - started
    mine, decided = run(raw, lambda email, text: match_sender(index, email, text))
    naive_raw = raw[:naive_count]
    theirs, naive_decided = run(naive_raw, lambda email, text: match_by_scanning(customers, people, email, text))
    mine_rate = len(raw) / (mine + built)
    naive_rate = len(naive_raw) / theirs
    outcomes = {o: sum(d.outcome == o for d in decided) for o in ("matched", "ambiguous", "new")}
    print(f"{len(raw):,} messages parsed, matched against {len(customers) + len(people):,} customers and contacts, classified:")
    print(f"  crm-bridge (index built once in {built:.2f} s, look-ups)   {mine_rate:>10,.0f} messages/s "
          f"({len(raw) / mine:,.0f}/s once the index is built)")
    print(f"  naive (every contact scanned per message, {len(naive_raw)} msgs) {naive_rate:>10,.1f} messages/s")
    print(f"  ratio                                              {mine_rate / naive_rate:>10.1f}x")
    print(f"  outcomes: {outcomes}")
    if [d.outcome for d in decided[:len(naive_raw)]] != [d.outcome for d in naive_decided] or \
            [d.customer_id for d in decided[:len(naive_raw)]] != [d.customer_id for d in naive_decided]:
        print("the two sides decided differently", file=sys.stderr)
        return 1
    return 0


def _registered_end_to_end(count: int, *, in_process: bool) -> int:
    """Print the end-to-end rate; 1 when 1C does not hold each request once or a number is missing."""
    took, created, numbered = end_to_end(count, in_process=in_process)
    print(f"{count:,} messages stored, decided, created and posted in the 1C emulator, numbers read back: "
          f"{count / took:,.0f} requests/s ({took:.1f} s)")
    if created != count:
        print(f"the emulator holds {created} of them, not {count}", file=sys.stderr)
        return 1
    if numbered != count:
        print(f"{numbered} of the {count} requests carry 1C's number", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
