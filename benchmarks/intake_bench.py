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
(``intake.confirm``) — and prints requests registered per second.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from email.message import EmailMessage

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
    customers = [(c, f"office{c}@firm{c}.example", f"+7 495 {c // 10000:03d}-{c % 10000 // 100:02d}-{c % 100:02d}", None)
                 for c in range(1, contacts // 5 + 1)]
    people = [(k, 1 + k % len(customers), f"person{k}@firm{1 + k % len(customers)}.example", f"8 (916) {k // 10000:03d} {k % 10000:04d}")
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


def end_to_end(count: int) -> tuple[float, int]:
    """Seconds to register `count` messages into the emulator, and how many 1C holds after."""
    import tempfile
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from sqlalchemy import select

    from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
    from adapters.onec.emulator import Emulator
    from crm_bridge.app import App
    from crm_bridge.store.tables import ContactRow
    from intake.inbox import store_message

    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)
    with tempfile.TemporaryDirectory() as tmp, Emulator(requests=50, seed=3, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        text = demo_config(emu.base_url, Path(tmp) / "s.db") + "    create_remote: [ticket]\n    post_created: [ticket]\n"
        # The senders are the demo's few contacts, each writing many times within the hour:
        # the flood rule (20 an hour by default) ignored all but 440 of 1,000 messages.
        app = App.from_text(text + f"intake: {{batch: {count}, flood: {{messages: {count}, within: 1h}}}}\n")
        app.upgrade_db()
        app.run_job("sync.pull")
        app.run_job("sync.dispatch")
        with app.store.transaction() as s:
            senders = [e for e in s.scalars(select(ContactRow.email).where(ContactRow.email.is_not(None)))]
        raw = []
        for i in range(count):
            msg = EmailMessage()
            msg["From"], msg["Subject"], msg["Message-ID"] = senders[i % len(senders)], f"Вопрос {i}: {SUBJECTS[i % 6]}", f"<e{i}@b>"
            msg.set_content("Добрый день! Прошу помочь.")
            raw.append(msg.as_bytes())
        started, cpu_started = time.perf_counter(), time.process_time()
        phases: dict[str, tuple[float, float]] = {}  # wall and CPU seconds (this process: the emulator's threads too)
        mark = [started, cpu_started]

        def lap(name: str) -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            phases[name] = (wall - mark[0], cpu - mark[1])
            mark[:] = [wall, cpu]

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
        print("  phases: " + ", ".join(f"{k} {v:.1f} s ({c:.1f} CPU s)" for k, (v, c) in phases.items())
              + f"; CPU {time.process_time() - cpu_started:.1f} s in all")
        created = sum(str(d.get("ИдентификаторВнешний") or "").startswith("crm-bridge:") for d in emu.records("Document_Интерес"))
        app.close()
    return took, created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--naive-messages", type=int, default=100, help="the naive side is slow: fewer messages, same rate")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N", help="also register N messages into the 1C emulator")
    args = parser.parse_args(argv)
    customers, people = dataset(args.contacts)
    raw = messages(args.messages, args.contacts)
    started = time.perf_counter()
    index = ContactIndex.build(customers, people)
    built = time.perf_counter() - started
    mine, decided = run(raw, lambda email, text: match_sender(index, email, text))
    naive_raw = raw[:args.naive_messages]
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
    if args.end_to_end:
        took, created = end_to_end(args.end_to_end)
        print(f"{args.end_to_end:,} messages stored, decided, created and posted in the 1C emulator, numbers read back: "
              f"{args.end_to_end / took:,.0f} requests/s ({took:.1f} s)")
        if created != args.end_to_end:
            print(f"the emulator holds {created} of them, not {args.end_to_end}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
