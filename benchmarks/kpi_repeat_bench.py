"""What counting intake's repeat contacts costs ``kpi report``: CPU seconds of the process
(SQLite does all its work there, so this holds on a loaded machine where wall-clock seconds
do not), the best of three reports for November by team on ``kpi_bench.build``'s store —
with the history indexed by kind and instant (``kpi_0002``), without that index (every
history row scanned), and with the history emptied (the figure before intake's messages
counted).

    python benchmarks/kpi_repeat_bench.py [--n 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, func, select, text

sys.path.insert(0, str(Path(__file__).parent))
from kpi_bench import CONFIG, MSK, NOW, build  # noqa: E402 - the KPI benchmark's store

from crm_bridge.app import App  # noqa: E402
from crm_bridge.store.tables import TicketEventRow  # noqa: E402
from kpi.period import parse_period  # noqa: E402
from kpi.queries import kpi_report  # noqa: E402


def _report(bridge: App) -> tuple[float, int, int]:
    """The best CPU seconds of three reports, and the total's repeats and repeat messages."""
    best, repeats, messages = float("inf"), 0, 0
    for _ in range(3):
        began = time.process_time()
        with bridge.store.transaction() as s:
            total = kpi_report(
                s, parse_period("2026-11", MSK, NOW), NOW, CONFIG, by=("team",)
            ).total
        best = min(best, time.process_time() - began)
        repeats, messages = total.repeats, total.repeat_messages
    return best, repeats, messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bridge = App.from_text(
            f'timezone: Europe/Moscow\nstore: {{url: "sqlite:///{Path(tmp) / "s.db"}"}}\n'
        )
        try:
            bridge.upgrade_db()
            build(bridge, args.n, 7, 24)
            with bridge.store.transaction() as s:
                rows = s.scalar(select(func.count()).select_from(TicketEventRow))
            print(f"SQLite: {args.n:,} requests, {rows:,} history rows")
            indexed = _report(bridge)
            with bridge.store.transaction() as s:
                s.execute(text("DROP INDEX ix_kpi_ticket_events_kind_at"))
            scanned = _report(bridge)
            with bridge.store.transaction() as s:
                s.execute(delete(TicketEventRow))
            before = _report(bridge)
        finally:
            bridge.close()
    for label, (cpu, repeats, messages) in (
        ("history indexed (kpi_0002)", indexed),
        ("history scanned (no index)", scanned),
        ("history emptied (before)", before),
    ):
        print(
            f"SQLite: {label:28} {cpu:5.2f} CPU s   repeats {repeats:,} (intake's messages {messages:,})"
        )
    print(
        f"SQLite: intake's repeat messages add {indexed[0] - before[0]:+.2f} CPU s indexed, "
        f"{scanned[0] - before[0]:+.2f} CPU s scanned (ratio of the two reports {scanned[0] / indexed[0]:.2f}x)"
    )
    return 0 if indexed[1:] == scanned[1:] else 1


if __name__ == "__main__":
    sys.exit(main())
