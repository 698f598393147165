"""The control endpoint ``/__emulator__/…``: steer a running emulator over HTTP.

Tests and benchmarks in other processes (or curl during a demo) inject faults, read
request counters, unpublish sets and make the simulated 1C user edit records. No auth:
it only exists in the emulator. Every answer is JSON; bad input is a 400 that says
what is valid.

=======================================  ==============================================
``GET    /__emulator__/stats``           requests served: per method, per set, total
``DELETE /__emulator__/stats``           reset the counters
``GET    /__emulator__/faults``          active faults
``POST   /__emulator__/faults``          add one fault (object) or several (array)
``DELETE /__emulator__/faults[/<id>]``   remove all faults, or one
``GET    /__emulator__/unpublished``     sets currently unpublished
``POST   /__emulator__/unpublished``     ``{"sets": [...]}``: unpublish them
``DELETE /__emulator__/unpublished``     publish everything again
``POST   /__emulator__/edits``           ``{"count": n}`` random 1C-user edits, or
                                         ``{"ref": "…", "changes": {…}}`` one given edit
``POST   /__emulator__/reassign``        ``{"ref": "…", "user": "…"}``: a 1C user makes
                                         another user responsible for the request by hand
                                         (``user`` left out: another active agent)
``POST   /__emulator__/replies``         ``{"ref": "…", "text": "…", "subject": …, "author":
                                         …, "status": "Отправлено"}``: a 1C user answers
                                         the customer from the request (an outgoing e-mail
                                         document by Предмет) → the letter
``POST   /__emulator__/touch``           ``{"set": S, "count": n, "append": {field: text},
                                         "seed": k}``: n random live objects of S saved
                                         by a 1C user (text appended; DataVersion bumps)
``POST   /__emulator__/activity``        ``{"rate": edits_per_second}``: start the user
``DELETE /__emulator__/activity``        stop the simulated user
``POST   /__emulator__/held``            ``{"ref": "…", "set": S}``: a 1C user holds the
                                         object open; OData writes to it fail with 1C's
                                         lock error (500, -1) until it is released
``DELETE /__emulator__/held[/<ref>]``    release one object, or all
=======================================  ==============================================
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from .errors import ODataError, unknown_set
from .faults import fault_from_json
from .service import Response

if TYPE_CHECKING:
    from .emulator import Emulator

__all__ = ["handle_control"]


def handle_control(emu: Emulator, method: str, path: str, body: bytes) -> Response:
    """Answer one control request."""
    parts = path.removeprefix("/__emulator__/").strip("/").split("/")
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
        return _route(emu, method, parts, data)
    except (ValueError, TypeError, KeyError) as exc:
        return _json(400, {"error": str(exc)})
    except ODataError as exc:
        return _json(exc.status, {"error": exc.message, "code": exc.code})


def _route(emu: Emulator, method: str, parts: list[str], data: Any) -> Response:
    resource, rest = parts[0], parts[1:]
    if resource == "stats":
        if method == "DELETE":
            emu.reset_stats()
            return _json(200, emu.stats())
        return _json(200, emu.stats())
    if resource == "faults":
        return _faults(emu, method, rest, data)
    if resource == "unpublished":
        if method == "POST":
            emu.unpublish(*_names(data))
        elif method == "DELETE":
            emu.publish(*(rest or sorted(emu.unpublished)))
        return _json(200, {"sets": sorted(emu.unpublished)})
    if resource == "edits" and method == "POST":
        data = data or {}
        if "ref" in data:
            emu.activity.edit(str(data["ref"]), dict(data.get("changes") or {}))
            return _json(200, {"edits": [["update", data["ref"]]]})
        return _json(200, {"edits": [list(emu.activity.step()) for _ in range(int(
            data.get("count", 1)))]})
    if resource == "reassign" and method == "POST":
        data = data or {}
        user = emu.activity.reassign(str(data["ref"]), str(data["user"]) if data.get("user") else None)
        return _json(200, {"ref": data["ref"], "user": user})
    if resource == "replies" and method == "POST":
        data = data or {}
        return _json(201, emu.reply(str(data["ref"]), str(data.get("text", "")), subject=data.get("subject"),
                                    author=data.get("author"), status=str(data.get("status", "Отправлено"))))
    if resource == "touch" and method == "POST":
        return _json(200, _touch(emu, data))
    if resource == "activity":
        if method == "POST":
            emu.activity.start(float((data or {}).get("rate", 1.0)))
        elif method == "DELETE":
            emu.activity.stop()
        return _json(200, {"running": emu.activity.running, "edits": emu.activity.edits})
    if resource == "held":
        if method == "POST":
            data = data or {}
            emu.activity.hold(str(data["ref"]), str(data.get("set", "Document_Интерес")))
        elif method == "DELETE":
            for set_name, ref in list(emu.store.held):
                if not rest or ref == rest[0]:
                    emu.activity.release(ref, set_name)
        return _json(200, {"held": [{"set": name, "ref": ref, "user": user}
                                    for (name, ref), user in sorted(emu.store.held.items())]})
    return _json(404, {"error": f"no control resource {'/'.join(parts)!r}",
                       "valid": ["stats", "faults", "unpublished", "edits", "reassign", "replies", "touch", "activity", "held"]})


def _faults(emu: Emulator, method: str, rest: list[str], data: Any) -> Response:
    if method == "POST":
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(item, dict) for item in items):
            raise ValueError("POST a fault object or an array of them, e.g. "
                             '{"kind": "status", "status": 503, "method": "PATCH", "count": 2}')
        added = [emu.faults.add(fault_from_json(item)) for item in items]
        return _json(201, {"faults": [fault.to_json() for fault in added]})
    if method == "DELETE":
        if rest:
            if not emu.faults.remove(int(rest[0])):
                return _json(404, {"error": f"no fault {rest[0]}"})
        else:
            emu.faults.clear()
    return _json(200, {"faults": [fault.to_json() for fault in emu.faults.list()]})


def _touch(emu: Emulator, data: Any) -> dict[str, Any]:
    """Save ``count`` distinct random objects of a set not marked for deletion (all of
    them if fewer), as a 1C user opening each and pressing «Записать»: ``append`` text
    goes at the end of those string fields; DataVersion bumps and the change is
    registered even when nothing else changes. The same ``seed`` picks the same objects."""
    example = ('POST {"set": "Document_Интерес", "count": 100, "append": {"Тема": " (уточнено)"}, '
               '"seed": 1}')
    if not isinstance(data, dict) or not isinstance(data.get("set"), str):
        raise TypeError(example)
    name, count, append = data["set"], int(data.get("count", 1)), data.get("append") or {}
    table = emu.store.tables.get(name)
    if table is None:
        raise unknown_set(name)
    etype = emu.schema.sets[name].type
    strings = sorted(p for p, prop in etype.properties.items() if prop.edm == "Edm.String")
    if not isinstance(append, dict) or any(field not in strings for field in append):
        raise ValueError(f"append: string fields of {name} only ({', '.join(strings)}); {example}")
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    with emu.store.lock:
        mark = etype.index.get("DeletionMark")
        live = sorted(ref for ref, row in table.items() if mark is None or not row[mark])
        refs = random.Random(f"touch-{data.get('seed', 1)}").sample(live, min(count, len(live)))
        for ref in refs:
            row = table[ref]
            emu.store.patch(name, ref, {field: f"{row[etype.index[field]]}{text}"
                                        for field, text in append.items()})
    return {"set": name, "refs": refs}


def _names(data: Any) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("sets"), list):
        raise TypeError('POST {"sets": ["Catalog_Контрагенты", ...]}')
    return [str(name) for name in data["sets"]]


def _json(status: int, document: Any) -> Response:
    return Response(status, json.dumps(document, ensure_ascii=False).encode("utf-8"))
