"""``python -m adapters.onec.emulator``: the emulator with every knob on the command line.

``crm-bridge emulator`` is the product's command (same options, parsed by
:mod:`.launch`); this one adds the rarer knobs for integrators and benchmarks that want
faults, latency, a busy 1C user or a fixed clock from the start, e.g.::

    python -m adapters.onec.emulator --port 8080 --requests 100000 --user-activity 2 \\
        --fault '{"kind": "status", "status": 503, "method": "PATCH", "count": 3}'

Once it listens, the base URL is the first line on stdout (with ``--port 0``, how a
parent process learns the port); logs go to stderr. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..refs import REF_ORDERS
from .emulator import PortInUse
from .launch import emulator_from_text, serve

__all__ = ["main"]

log = logging.getLogger("adapters.onec.emulator")


MAX_REQUESTS = 1_000_000  # about 1 GB of emulated base


def _request_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_REQUESTS:
        msg = f"{count}: the emulator generates 1..{MAX_REQUESTS:,} requests"
        raise argparse.ArgumentTypeError(msg)
    return count


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, serve until Ctrl-C or SIGTERM, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m adapters.onec.emulator",
                                     description="1C:CRM emulator (standard OData + SOAP)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port (printed)")
    parser.add_argument("--requests", type=_request_count, default=300, help="requests to generate (1..1,000,000)")
    parser.add_argument("--customers", type=int, default=None,
                        help="partners to generate (default requests/5, 10..50000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", default=None, metavar="ISO",
                        help="the base's clock at start, e.g. 2026-03-02T12:00:00 (Moscow time)")
    parser.add_argument("--publication", default="crm")
    parser.add_argument("--user", action="append", default=[], metavar="LOGIN:PASSWORD",
                        help="Basic-auth user (repeatable; default Администратор:demo)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--cold-start", type=float, default=0.0, help="first-request delay")
    parser.add_argument("--metadata-delay", type=float, default=0.0)
    parser.add_argument("--user-activity", type=float, default=0.0,
                        help="edits per second by a simulated 1C user")
    parser.add_argument("--unpublish", action="append", default=[], metavar="SET")
    parser.add_argument("--fault", action="append", default=[], metavar="JSON",
                        help="a fault as JSON (repeatable), see README")
    parser.add_argument("--allow-delete", action="store_true")
    parser.add_argument("--register-existing", action="store_true",
                        help="register every seeded object for the exchange-plan nodes")
    parser.add_argument("--exchange-package-size", type=int, default=1000,
                        help="most objects in one SelectChanges package")
    parser.add_argument("--typed-atom", action="store_true",
                        help="m:type on every scalar of SelectChanges entries (real 1C writes none)")
    parser.add_argument("--atom-tombstones", action="store_true",
                        help="objects deleted from the base as <at:deleted-entry> in SelectChanges")
    parser.add_argument("--max-query-string", type=int, default=2048, metavar="BYTES",
                        help="refuse longer query strings with IIS's 404.15 (0: no limit)")
    parser.add_argument("--error-bom", action="store_true")
    parser.add_argument("--ref-order", choices=sorted(REF_ORDERS), default="binary",
                        help="how references compare and sort in $filter/$orderby: as 1C stores them "
                             "(binary, default), as text, or as SQL Server's uniqueidentifier")
    parser.add_argument("--no-plus-quirk", action="store_true",
                        help="decode '+' as a space instead of ignoring the filter like 1C")
    parser.add_argument("--no-truncate-strings", action="store_true",
                        help="store strings longer than their attribute whole instead of cutting them like 1C")
    parser.add_argument("--csat-fields", action="store_true",
                        help="Document_Интерес gets ОценкаКлиента and КомментарийОценки (the csat addon's write-back)")
    parser.add_argument("--no-notes", action="store_true",
                        help="leave out Catalog_Заметки (notes by Предмет: an assumption of this emulator)")
    parser.add_argument("--no-mails", action="store_true",
                        help="leave out Document_ЭлектронноеПисьмоИсходящее (agents' letters by Предмет: an assumption)")
    parser.add_argument("--no-files", action="store_true",
                        help="leave out Catalog_ИнтересПрисоединенныеФайлы (files of a request: an assumption)")
    parser.add_argument("--no-folders", action="store_true",
                        help="no partner folders (IsFolder rows) in Catalog_Партнеры")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s")
    try:
        emulator = emulator_from_text(
            users=args.user, faults=args.fault, now=args.now,
            host=args.host, port=args.port, requests=args.requests, customers=args.customers,
            seed=args.seed, publication=args.publication, latency=args.latency,
            cold_start=args.cold_start, metadata_delay=args.metadata_delay,
            user_activity=args.user_activity, unpublished=args.unpublish,
            allow_delete=args.allow_delete, register_existing=args.register_existing,
            exchange_package_size=args.exchange_package_size, error_bom=args.error_bom,
            plus_quirk=not args.no_plus_quirk, max_query_string=args.max_query_string,
            real_1c_atom=not args.typed_atom, atom_tombstones=args.atom_tombstones,
            ref_order=args.ref_order, truncate_strings=not args.no_truncate_strings,
            folders=not args.no_folders, notes=not args.no_notes,
            mails=not args.no_mails, files=not args.no_files,
            csat_fields=args.csat_fields,
        )
    except ValueError as exc:
        parser.error(str(exc))
    log.info("generated %s; serving until Ctrl-C", dict(emulator.seed.counts))
    try:
        serve(emulator, on_ready=lambda emu: print(emu.base_url, flush=True))
    except PortInUse as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    log.info("1C emulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
