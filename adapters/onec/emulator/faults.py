"""Injected faults: what a real 1C publication does on a bad day.

A :class:`Fault` is scoped by HTTP method, entity set (``$metadata`` and ``""`` for the
service document count as sets) and a count ("fail the next 2 PATCHes to
Document_Интерес"); without a count it stays until removed. Every matching ``latency``
fault adds its delay; then the first matching fault of any other kind decides the
answer. Kinds:

``latency``   sleep ``seconds``, then answer normally (cold start, slow ``$metadata``)
``status``    answer ``status`` (429, 503, 500, …) with a 1C error body and, if set,
              ``Retry-After``
``timeout``   sleep ``seconds`` (default 30: longer than a client's read timeout), then
              answer normally — to nobody
``truncate``  answer normally but cut the body in half and close the connection
``malformed`` answer 200 with a body that is not JSON (an HTML error page from the proxy)
``auth``      answer 401 whatever the credentials
``drop``      close the connection without answering
``garble``    answer normally, but every occurrence of ``message`` in the body has its
              UTF-8 bytes damaged (not UTF-8 any more): a proxy or a cp1251 hop
              re-encoding the answer
``ignore_filter`` answer as if the request had no ``$filter``: what 1C does with a filter
              whose spaces came as ``+`` (the ``plus_quirk``), here on demand — a keyset
              pass then gets its first page again and again
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = ["KINDS", "Fault", "FaultPlan", "fault_from_json"]

KINDS = ("latency", "status", "timeout", "truncate", "malformed", "auth", "drop", "garble", "ignore_filter")
_DEFAULT_MESSAGES = {
    429: "Превышено количество одновременных запросов к информационной базе",
    503: "Сервис временно недоступен: информационная база заблокирована или перезапускается",
    500: "Ошибка при выполнении обработчика - 'ПередЗаписью'\n"
         "{Документ.Интерес.МодульОбъекта(57)}: Не заполнено поле \"Партнер\"",
}


@dataclass(frozen=True)
class Fault:
    """One fault rule (see the module docstring for the kinds)."""

    kind: str
    method: str | None = None  # None: any method
    entity_set: str | None = None  # None: any path; "$metadata"; "" = service document
    count: int | None = None  # None: until removed
    seconds: float = 0.0
    status: int = 503
    retry_after: int | None = None
    code: str = "-1"
    message: str | None = None
    id: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or None for 'until removed')")

    def matches(self, method: str, entity_set: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.entity_set is None or self.entity_set == entity_set)

    @property
    def error_message(self) -> str:
        return self.message or _DEFAULT_MESSAGES.get(self.status, "Ошибка сервера 1С:Предприятия")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fault_from_json(data: Mapping[str, Any]) -> Fault:
    """A fault from a control-endpoint body; unknown keys are an error (say which)."""
    known = set(Fault.__dataclass_fields__) - {"id"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown fault field(s) {sorted(unknown)}; valid: {sorted(known)}")
    return Fault(**{key: value for key, value in data.items() if key != "id"})


class FaultPlan:
    """The active faults of one emulator; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            stored = replace(fault, id=self._next_id)
            self._next_id += 1
            self._faults.append(stored)
            return stored

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, entity_set: str) -> tuple[float, Fault | None]:
        """Consume the faults for one request → (total latency, deciding fault or None)."""
        delay, decisive = 0.0, None
        with self._lock:
            kept: list[Fault] = []
            for fault in self._faults:
                fires = fault.matches(method, entity_set) and (
                    fault.kind == "latency" or decisive is None)
                if fires:
                    if fault.kind == "latency":
                        delay += fault.seconds
                    else:
                        decisive = fault
                    if fault.count is not None:
                        if fault.count > 1:
                            kept.append(replace(fault, count=fault.count - 1))
                        continue
                kept.append(fault)
            self._faults = kept
        return delay, decisive
