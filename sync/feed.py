"""The change-feed pass of one backend (``sync.source.ChangeFeed``; 1C: an exchange plan).

* **First pass** (the feed's stream has no ``initialised`` mark): the feed's position is
  read first — a missing node fails here, before any work — then every model is imported
  by the usual version scan (``Importer.run``, resumable from its own checkpoints), and
  only then the stream is marked initialised. Changes registered before or during the
  scan are still in the feed; the next packages bring them again and they are skipped
  as unchanged versions.
* **Later passes**: packages are read from the acknowledged position + 1 and stored per
  model in the configured order (customers before the tickets naming them) through
  ``Importer.store_page``; deletion-marked records become tombstones, records deleted
  outright (only their key came) tombstone their binding — both only as far as the
  mass-delete guard permits (``sync.deletes``): over it they are held and the package is
  not acknowledged, so 1C keeps them registered until an operator allows them. Only then is the
  package acknowledged. A crash between storing and acknowledging reads the same
  package again, which changes nothing (the versions match). Packages follow each other
  until an empty one, at most ``max_packages`` per pass.
* **Problems** (an entry that did not parse, a type no mapping covers): the package's
  good records are stored, the package is **not** acknowledged, and its problems are
  kept in the stream's checkpoint (``crm-bridge status --json``) and the run's error.
  After ``max_attempts`` passes with problems the package is **parked**: logged as an
  error each pass, and the models are read by version scans meanwhile so no change
  waits behind it. Once a read of the package comes back clean (the object was fixed in
  the CRM, a mapping or an ignore rule was added) it is acknowledged and the feed runs on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from crm_bridge.events import EventBus
from crm_bridge.store.engine import Store
from mapping.compile import CompiledMapping
from sync.checkpoint import load_checkpoint, save_checkpoint
from sync.importer import Importer, ImportStats
from sync.source import ChangeFeed, FeedPackage, RemoteBackend, supports_change_feed

__all__ = ["MAX_ATTEMPTS", "MAX_PACKAGES", "FeedResult", "feed_pass", "feed_stream"]

log = logging.getLogger(__name__)
MAX_PACKAGES = 50  # packages one pass stores at most; the next pass goes on
MAX_ATTEMPTS = 3  # passes that read a package with problems before it is parked
_KEPT_PROBLEMS = 20  # problems of one package kept in the checkpoint
_KEPT_CHARS = 4000  # of each raw entry


@dataclass
class FeedResult:
    """What one feed pass did."""

    models: dict[str, ImportStats]
    initial: bool = False  # this pass ran the initial version scan
    packages: int = 0  # packages stored and acknowledged
    acknowledged: int | None = None  # number of the last package acknowledged
    deleted: int = 0  # bindings tombstoned for records deleted outright
    parked: bool = False  # a package with problems waits for a person; version scans stand in
    problems: int = 0  # entries of the held package that could not be stored (each named in `problem`)
    problem: str | None = None  # why the feed did not move on (the run fails with it)
    held: str = ""  # deletions the mass-delete guard held: the package waits, unacknowledged

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "models"}


def feed_stream(backend: ChangeFeed) -> str:
    """The checkpoint stream of a backend's feed (initialised mark, problems, last package)."""
    return f"feed:{backend.feed_name}"


def feed_pass(store: Store, bus: EventBus, config: Any, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping],
              now: datetime, *, max_packages: int = MAX_PACKAGES, max_attempts: int = MAX_ATTEMPTS) -> FeedResult:
    """One pass of `backend`'s change feed over its mapped models (in `mappings`' order).

    Raises:
        TypeError: the backend has no change feed (``supports_change_feed``).
        RemoteError: the CRM failed (reading, storing a reference, acknowledging); what
            was stored stays stored, the unacknowledged package is read again next time.
    """
    feed = backend
    if not supports_change_feed(feed):
        msg = f"{backend.name}: no change feed"
        raise TypeError(msg)
    name, stream = backend.name, feed_stream(feed)
    importer = Importer(store, bus, config, backend, mappings, now)
    result = FeedResult({model: ImportStats() for model in mappings})
    with store.transaction() as session:
        state = load_checkpoint(session, name, stream)
    position = feed.feed_position()  # first: a feed that is not set up fails before any work
    if not state.get("initialised"):
        _scan(importer, mappings, result)
        state = {"initialised": now.isoformat(), "position": position}
        _save(store, name, stream, state)
        result.initial = True
        log.info("%s: initial import done; from now on changes come from %s", name, feed.feed_name,
                 extra={"event": "sync.feed.initialised", "backend": name})
    specs = {model: mapping.spec for model, mapping in mappings.items()}
    for _ in range(max_packages):
        number = position + 1
        package = feed.feed_package(specs, number)
        if package.empty:
            break
        state = _store(importer, feed, mappings, package, result, state, now)
        if result.held:  # 1C keeps the changes registered until an operator allows the deletions
            result.problem = (f"{feed.feed_name}: package {number} not acknowledged: {result.held}; the rest of it "
                              "is stored, and it is read again next pass")
            log.warning("%s", result.problem, extra={"event": "sync.feed.held", "backend": name})
            break
        if package.problems:
            state = _held(feed, package, state, result, now, max_attempts)
            _save(store, name, stream, state)
            if result.parked:
                _scan(importer, mappings, result)  # nothing waits behind the parked package
            break
        feed.feed_acknowledge(number)
        position = result.acknowledged = number
        result.packages += 1
        if state.get("problems"):
            log.warning("%s: package %d of %s came back clean and is acknowledged; the feed runs on", name, number,
                        feed.feed_name, extra={"event": "sync.feed.resumed", "backend": name})
        state = {"initialised": state["initialised"], "position": number, "stored": number}
        _save(store, name, stream, state)
    else:
        log.info("%s: %d packages this pass; the rest next pass", name, max_packages,
                 extra={"event": "sync.feed.more", "backend": name})
    return result


def _scan(importer: Importer, mappings: Mapping[str, CompiledMapping], result: FeedResult) -> None:
    for model in mappings:
        result.models[model].add(importer.run(model))


def _store(importer: Importer, feed: ChangeFeed, mappings: Mapping[str, CompiledMapping], package: FeedPackage,
           result: FeedResult, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Store the package's records model by model, then tombstone what was deleted
    outright and note the package as stored, in one transaction."""
    for model, mapping in mappings.items():  # the configured order: referenced models first
        records = package.records.get(model) or []
        if records:
            stats = result.models[model]
            stats.read += len(records)
            importer.refused.clear()
            importer.store_page(mapping, records, f"{model}:feed", None, stats)
            # A record the import refused that an edit in 1C can clear (a value its model
            # rejects) is a problem of the package: acknowledged, it would leave the feed.
            package.problems += [(str(exc), json.dumps(rec.values, ensure_ascii=False, default=str))
                                 for rec, exc in importer.refused if exc.remote_fix]
    name, stream = importer.backend.name, feed_stream(feed)
    for model in mappings:  # deletion marks and records deleted outright, through the mass-delete guard
        deleted = importer.settle_deletes(model, result.models[model], package.gone.get(model, ()))
        if deleted is None:
            result.held = "; ".join(h for h in (result.held, result.models[model].held) if h)
        else:
            result.deleted += deleted
    state = {**state, "stored": package.number}
    _save(importer.store, name, stream, state)
    return state


def _held(backend: ChangeFeed, package: FeedPackage, state: dict[str, Any], result: FeedResult, now: datetime,
          max_attempts: int) -> dict[str, Any]:
    """The package had problems: count the attempt, park it after `max_attempts`, say why."""
    name, number = getattr(backend, "name", "?"), package.number
    again = state.get("package") == number
    attempts = int(state.get("attempts") or 0) + 1 if again else 1
    since = str(state.get("since")) if again and state.get("since") else now.isoformat()
    parked = state.get("parked") if again else None
    if attempts >= max_attempts and not parked:
        parked = now.isoformat()
    reasons = [reason for reason, _ in package.problems]
    result.problems = len(reasons)
    shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    what = f"{backend.feed_name}: package {number} not acknowledged: {len(reasons)} entr{'y' if len(reasons) == 1 else 'ies'} could not be stored"
    if parked:
        result.parked = True
        result.problem = (f"{what}, PARKED after {attempts} attempts (since {parked}); changes are read by version "
                          f"scans until a read of it comes back clean. {shown}")
        log.error("%s", result.problem, extra={"event": "sync.feed.parked", "backend": name})
    else:
        result.problem = f"{what} (attempt {attempts} of {max_attempts}; it is read again next pass). {shown}"
        log.warning("%s", result.problem, extra={"event": "sync.feed.retry", "backend": name})
    return {
        **state, "package": number, "attempts": attempts, "parked": parked, "since": since,
        "problems": [{"reason": reason, "entry": raw[:_KEPT_CHARS]} for reason, raw in package.problems[:_KEPT_PROBLEMS]],
        "problem_count": len(package.problems),
    }


def _save(store: Store, backend: str, stream: str, state: dict[str, Any]) -> None:
    with store.transaction() as session:
        save_checkpoint(session, backend, stream, state)
