"""The initial import without 1C's reads: 1C value conversion and storing, each timed alone.

    python benchmarks/import_store_bench.py [--requests 20000] [--repeat 3] [--json]

``onec_sync_bench`` times the whole import: the emulator builds and sends the pages, the
bridge's read-ahead thread reads and converts them while the main thread stores the ones
before, so a change to the storing shows there only through the noise of the rest. Here
the emulator (its own process, as in ``onec_sync_bench``) is read once, every model's raw
pages kept in memory, and then, ``--repeat`` times each, in this process:

1. **convert**: the adapter's ``read`` of every model replayed over the kept pages (no
   HTTP, no JSON decoding): 1C's wire values typed by ``$metadata`` (``values.from_wire``),
   folders and composite references sorted out, ``RemoteRecord`` built;
2. **store**: the converted records of every model (customers, contacts, agents, then
   requests, as ``sync.pull`` goes) given to ``Importer.store_page`` in batches of 4,000
   records, as the import's read-ahead batches them, into a fresh SQLite store each time
   (``db upgrade`` first, untimed): mapping, validation, merge base, content hash, bulk
   INSERTs of records and bindings, history, the SLA queue, the commit.

Printed: CPU seconds (this process, ``process_time``) and µs per record of each repeat,
and the best. The records stored are checked against those converted (every one created,
or skipped as the import skips it: a record 1C marked deleted, a service user; none
failed), so a faster run that stores less is not a faster run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from onec_sync_bench import BACKEND, MODELS, EmulatorProcess, config_text  # noqa: E402

_BATCH = 4000  # records a transaction, as ``sync.importer._BATCH``


def _app(db: Path, base_url: str) -> Any:
    from crm_bridge.app import App
    from crm_bridge.process import tune_gc

    tune_gc()  # as ``crm-bridge`` does once its commands are loaded
    config = db.with_suffix(".yaml")
    config.write_text(config_text(db, base_url, "version_scan"), encoding="utf-8")
    app = App.from_text(config.read_text(encoding="utf-8"), file=str(config))
    app.upgrade_db()
    return app


def _keeping(read: Any, kept: list[list[dict[str, Any]]]) -> Any:
    """The client's ``pages``, each page also put in `kept` as it passes."""
    def pages(entity: str, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        for page in read(entity, **kwargs):
            kept.append(page)
            yield page

    return pages


def _replaying(kept: list[list[dict[str, Any]]]) -> Any:
    """A client's ``pages`` that answers every read with `kept`, asking 1C nothing."""
    def pages(_entity: str, **_kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        return iter(kept)

    return pages


def kept_pages(app: Any) -> dict[str, list[list[dict[str, Any]]]]:
    """Every model's raw pages as 1C sent them (decoded JSON), read once through the adapter."""
    from sync.engine import mappings_for

    remote = app.backend(BACKEND)
    client = remote.client
    pages: dict[str, list[list[dict[str, Any]]]] = {}
    for model, mapping in mappings_for(remote, list(MODELS)).items():
        client.pages = _keeping(client.pages, pages.setdefault(model, []))
        try:
            for _ in remote.read(mapping.spec):
                pass
        finally:
            del client.pages  # the class's own again
    return pages


def convert(app: Any, pages: dict[str, list[list[dict[str, Any]]]]) -> tuple[float, dict[str, list[Any]]]:
    """The adapter's ``read`` over the kept pages; its CPU seconds and the records by model."""
    from sync.engine import mappings_for

    remote = app.backend(BACKEND)
    mappings = mappings_for(remote, list(MODELS))
    records: dict[str, list[Any]] = {}
    cpu = time.process_time()
    for model, mapping in mappings.items():
        remote.client.pages = _replaying(pages.get(model, []))
        try:
            records[model] = [r for page in remote.read(mapping.spec) for r in page]
        finally:
            del remote.client.pages
    return time.process_time() - cpu, records


def store(app: Any, records: dict[str, list[Any]]) -> tuple[float, dict[str, Any]]:
    """Every model's records through ``Importer.store_page``, batch by batch; its CPU
    seconds and the importer's counts by model."""
    from sync.binder import KnownBindings
    from sync.engine import mappings_for
    from sync.importer import Importer, ImportStats

    remote = app.backend(BACKEND)
    mappings, known, now = mappings_for(remote, list(MODELS)), KnownBindings(), datetime.now(UTC)
    counts: dict[str, Any] = {}
    cpu = time.process_time()
    for model, mapping in mappings.items():
        importer, stats = Importer(app.store, app.bus, app.config, remote, mappings, now, known=known), ImportStats()
        stream = f"{model}:{mapping.spec.entity}"
        batch = records.get(model, [])
        for start in range(0, len(batch), _BATCH):
            chunk = batch[start:start + _BATCH]
            stats.read += len(chunk)
            importer.store_page(mapping, chunk, stream, chunk[-1].id, stats)
        counts[model] = {"read": stats.read, "created": stats.created, "skipped": stats.skipped, "failed": stats.failed}
    return time.process_time() - cpu, counts


def run(requests: int, repeat: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="import-store-bench-") as tmp:
        folder = Path(tmp)
        emu = EmulatorProcess(requests, max(10, min(requests // 5, 50_000)), 0.0, folder / "emulator.log", seed)
        try:
            reader = _app(folder / "reader.db", emu.base_url)
            try:
                pages = kept_pages(reader)
                result: dict[str, Any] = {"requests": requests, "convert_cpu_s": [], "store_cpu_s": [], "problems": []}
                for index in range(repeat):
                    seconds, records = convert(reader, pages)
                    result["convert_cpu_s"].append(seconds)
                    app = _app(folder / f"store-{index}.db", emu.base_url)
                    try:
                        seconds, counts = store(app, records)
                    finally:
                        app.close()
                    result["store_cpu_s"].append(seconds)
                    result["records"] = sum(len(r) for r in records.values())
                    result["counts"] = counts
                    result["problems"] += [f"{m}: {c['created']} created and {c['skipped']} skipped of "
                                           f"{len(records[m])}, {c['failed']} failed" for m, c in counts.items()
                                           if c["created"] + c["skipped"] != len(records[m]) or c["failed"]]
            finally:
                reader.close()
        finally:
            emu.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20_000, help="requests in the emulated 1C base")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase (the best is shown too)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.requests, args.repeat, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        records = result["records"]
        print(f"import_store_bench: {args.requests:,} requests, {records:,} records")
        for phase in ("convert", "store"):
            runs = result[f"{phase}_cpu_s"]
            shown = ", ".join(f"{s:.2f}" for s in runs)
            print(f"  {phase:8} CPU s {shown}   best {min(runs):.2f} s = {min(runs) / records * 1e6:.0f} µs a record")
        for problem in result["problems"]:
            print(f"FAILED {problem}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
