"""Webhook pings at the edge: received (verified, the keys kept durably) and drained (the
records read again through the connector and imported as any pull would).

``receive`` is the whole intake as a plain function, so any HTTP front can mount it (the
built-in listener, ``webhook_server.py``; a web addon later)::

    status, reason = receive(app, "bitrix24", request.headers, await request.body(), app.clock(),
                             query=dict(request.query_params), content_type=request.headers["content-type"])

A ping is kept as one row per (backend, resource, key) in ``rest_pings``: a burst of pings
about one record, or the same ping delivered twice, is one row, so one read. ``drain``
reads each backend's pending keys by resource, imports them (``sync.importer.Importer.
refresh``: the same bindings, versions and conflict checks as a pull) and only then
deletes the rows it served — a crash in between reads them again, which changes nothing.
A row pinged again while it was being read stays for the next drain. The periodic sync
runs regardless, so a lost ping costs latency, never data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from adapters.generic_rest.tables import PingRow
from adapters.generic_rest.webhook import parse_body, pinged, verify
from crm_bridge.app import App

__all__ = ["check_webhooks", "drain", "pending", "receive"]

log = logging.getLogger(__name__)
DRAIN_BATCH = 500  # keys read again per resource and drain; the rest the next drain


def _keep(app: App, backend: str, keys: list[tuple[str, str]], now: datetime) -> None:
    """One row per record: a new ping of a pending record bumps its count and time."""
    with app.store.transaction() as session:
        for resource, key in keys:
            where = (PingRow.backend == backend) & (PingRow.resource == resource) & (PingRow.key == key)
            bumped = session.execute(update(PingRow).where(where).values(count=PingRow.count + 1, last_at=now))
            if getattr(bumped, "rowcount", 0):
                continue
            try:
                with session.begin_nested():
                    session.add(PingRow(backend=backend, resource=resource, key=key, first_at=now, last_at=now, count=1))
            except IntegrityError:  # another request kept the same record a moment ago
                session.execute(update(PingRow).where(where).values(count=PingRow.count + 1, last_at=now))


def receive(app: App, backend: str, headers: Mapping[str, str], body: bytes, now: datetime, *,
            query: Mapping[str, str] | None = None, content_type: str = "", peer: str = "") -> tuple[int, str]:
    """Take one ping for `backend`: (HTTP status, a short reason for the sender and the log).

    404 no such rest backend or it takes no webhooks, 400 a body that is neither JSON nor
    a form, 401 not verified (logged as ``rest.webhook.rejected``, without secrets), 200
    verified but naming nothing we read, 202 kept for reading again.
    """
    from adapters.generic_rest.backend import RestBackend

    cfg = app.config.backends.get(backend)
    if cfg is None or getattr(cfg, "kind", None) != "rest" or not cfg.enabled:
        return 404, f"no rest backend {backend!r} here"
    source: RestBackend = app.backend(backend)
    spec = source.connector.webhooks
    if spec is None:
        return 404, f"backend {backend!r}: its connector has no webhooks section"
    try:
        parsed = parse_body(content_type, body)
    except (ValueError, UnicodeDecodeError):
        return 400, "the body is neither JSON nor a form"
    why = verify(spec.verify, headers, body, parsed, query=query or {}, now=now)
    if why is not None:
        log.warning("webhook for %s from %s refused: %s", backend, peer or "?", why,
                    extra={"event": "rest.webhook.rejected", "backend": backend, "peer": peer})
        return 401, "not verified"
    keys = pinged(spec, parsed)
    if not keys:
        log.info("webhook for %s names no record a rule reads", backend, extra={"event": "rest.webhook.ignored", "backend": backend})
        return 200, "no rule matches; nothing to read"
    _keep(app, backend, keys, now)
    log.info("webhook for %s: %d records to read again", backend, len(keys),
             extra={"event": "rest.webhook.kept", "backend": backend, "records": len(keys)})
    return 202, f"{len(keys)} records to read again"


def pending(app: App) -> int:
    """Pings kept and not read again yet."""
    with app.store.transaction() as session:
        return session.scalar(select(func.count()).select_from(PingRow)) or 0


def drain(app: App, now: datetime, *, backend: str | None = None) -> dict[str, Any]:
    """Read again the records pinged (every rest backend, or one); returns counts per backend.

    Registered as the job ``rest.pings``; the listener runs it after each burst settles.
    Raises nothing for a CRM that fails: the keys stay and the failure is in the summary.
    """
    from sync.engine import mappings_for
    from sync.importer import Importer

    summary: dict[str, Any] = {}
    query = select(PingRow.id, PingRow.backend, PingRow.resource, PingRow.key, PingRow.last_at).order_by(PingRow.id)
    if backend is not None:
        query = query.where(PingRow.backend == backend)
    with app.store.transaction() as session:
        rows = session.execute(query).all()
    by_backend: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        by_backend.setdefault(row.backend, {}).setdefault(row.resource, []).append(row)
    for name, resources in by_backend.items():
        done: dict[str, Any] = {"read": 0, "imported": 0, "unmapped": 0}
        summary[name] = done
        cfg = app.config.backends.get(name)
        if cfg is None or not cfg.enabled:  # the backend left the configuration: its pings go too
            _forget(app, [r for group in resources.values() for r in group])
            continue
        try:
            source = app.backend(name)
            mappings = mappings_for(source, list(cfg.models))
            models = {m.spec.entity: model for model, m in mappings.items()}
            importer = Importer(app.store, app.bus, app.config, source, mappings, now)
            for resource, group in resources.items():
                batch = group[:DRAIN_BATCH]
                model = models.get(resource)
                if model is None:
                    done["unmapped"] += len(batch)  # no mapping reads it: nothing to import
                else:
                    found = importer.refresh(model, [r.key for r in batch])
                    done["read"] += len(batch)
                    done["imported"] += len(found)
                _forget(app, batch)
        except Exception as exc:  # the CRM or a mapping failed: the keys stay for the next drain
            log.warning("pinged records of %s not read: %s", name, exc, exc_info=True,
                        extra={"event": "rest.webhook.drain_failed", "backend": name})
            done["error"] = str(exc)
    return summary


def _forget(app: App, rows: list[Any]) -> None:
    """Delete the rows served, unless pinged again since they were read (then they stay)."""
    with app.store.transaction() as session:
        for row in rows:
            session.execute(delete(PingRow).where((PingRow.id == row.id) & (PingRow.last_at == row.last_at)))


def check_webhooks(app: App, backend: str) -> list[dict[str, Any]]:
    """What ``crm-bridge check`` says of a rest backend's pings when the listener is on:
    where the CRM must post them, or that an empty secret refuses every one."""
    cfg = app.config.backends.get(backend)
    listen = app.config.section("webhooks").listen
    if cfg is None or getattr(cfg, "kind", None) != "rest" or listen is None or cfg.loaded is None:
        return []
    spec = cfg.loaded.webhooks
    if spec is None:
        return [{"ok": True, "detail": f"the connector takes no pings; the periodic sync alone finds changes of {backend}"}]
    if not spec.verify.secret.get_secret_value():
        return [{"ok": False, "detail": f"webhooks.verify.secret of {cfg.connector} is empty: every ping to "
                                        f"/webhooks/{backend} is refused (401); set it (the ${{VAR}} it names)"}]
    return [{"ok": True, "detail": f"pings to http://{listen}/webhooks/{backend}, verified by {spec.verify.kind}"}]
