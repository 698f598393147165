"""``python -m adapters.onec.emulator``: the emulator with every knob on the command line.

``crm-bridge emulator`` is the product's command; this one exists for integrators and
benchmarks that want faults, latency or a busy 1C user from the start, e.g.::

    python -m adapters.onec.emulator --port 8080 --requests 100000 --user-activity 2 \\
        --fault '{"kind": "status", "status": 503, "method": "PATCH", "count": 3}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from .emulator import Emulator
from .faults import fault_from_json

__all__ = ["main"]

log = logging.getLogger("adapters.onec.emulator")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, serve until Ctrl-C, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m adapters.onec.emulator",
                                     description="1C:CRM emulator (standard OData + SOAP)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--requests", type=int, default=300, help="requests to generate")
    parser.add_argument("--seed", type=int, default=1)
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
    parser.add_argument("--error-bom", action="store_true")
    parser.add_argument("--no-plus-quirk", action="store_true",
                        help="decode '+' as a space instead of ignoring the filter like 1C")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s")
    try:
        users = dict(_user(text) for text in args.user) or None
        faults = [fault_from_json(json.loads(text)) for text in args.fault]
    except ValueError as exc:
        parser.error(str(exc))
    emulator = Emulator(
        host=args.host, port=args.port, requests=args.requests, seed=args.seed,
        publication=args.publication, users=users, latency=args.latency,
        cold_start=args.cold_start, metadata_delay=args.metadata_delay,
        user_activity=args.user_activity, unpublished=args.unpublish, faults=faults,
        allow_delete=args.allow_delete, error_bom=args.error_bom,
        plus_quirk=not args.no_plus_quirk,
    )
    log.info("generated %s; serving until Ctrl-C", dict(emulator.seed.counts))
    emulator.serve_forever()
    return 0


def _user(text: str) -> tuple[str, str]:
    login, sep, password = text.partition(":")
    if not sep or not login:
        raise ValueError(f"--user {text!r}: expected LOGIN:PASSWORD")
    return login, password


if __name__ == "__main__":
    sys.exit(main())
