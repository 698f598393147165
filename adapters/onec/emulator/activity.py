"""A simulated 1C user working in the base while the bridge syncs.

Conflict tests need someone else writing: an agent takes a new request into work, asks
the customer a question, resolves and closes requests, edits a comment or the
importance, and now and then registers a new request. Every edit goes through the
store like an OData write, so DataVersion bumps and change registrations happen.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from .errors import not_found
from .store import EMPTY_REF, Store

__all__ = ["UserActivity"]

log = logging.getLogger(__name__)
_REQUESTS = "Document_Интерес"
_STATES = "Catalog_СостоянияИнтересов"
_NEXT = {
    "Новое": ("В работе",),
    "В работе": ("Ожидает ответа клиента", "Решено", "Решено"),
    "Ожидает ответа клиента": ("В работе",),
    "Решено": ("Закрыто",),
}


class UserActivity:
    """Edits made "in 1C": call :meth:`step` for one, or :meth:`start` for a steady rate."""

    def __init__(self, store: Store, seed: int = 0) -> None:
        self.store = store
        self.random = random.Random(f"user-activity-{seed}")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._keys: dict[str, list[str]] = {}
        self.edits = 0

    def step(self) -> tuple[str, str]:
        """One user action → (``"update"`` or ``"create"``, Ref_Key); lock held inside."""
        with self.store.lock:
            if self.random.random() < 0.15:
                return "create", self._register()
            ref = self._some_open_request()
            if ref is None:
                return "create", self._register()
            self.store.patch(_REQUESTS, ref, self._changes(ref))
            self.edits += 1
            return "update", ref

    def edit(self, ref_key: str, changes: dict[str, Any]) -> None:
        """A given edit (for tests that need one precise conflict)."""
        self.store.patch(_REQUESTS, ref_key, changes)
        self.edits += 1

    def reassign(self, ref_key: str, user_key: str | None = None) -> str:
        """A supervisor in 1C makes another user responsible for a request by hand (the
        form's «Ответственный»): `user_key`, or an active agent other than the current
        one. Returns the new responsible user's key; the bridge must import it and never
        route the request back.

        Raises:
            ODataError: no such request (404, code 9).
        """
        with self.store.lock:
            row = self.store.lookup(_REQUESTS, ref_key)
            if row is None:
                raise not_found()
            current = row[self.store.schema.sets[_REQUESTS].type.index["Ответственный_Key"]]
            if user_key is None:
                others = [a for a in self._agents() if a != current]
                user_key = self.random.choice(others) if others else current
            self.store.patch(_REQUESTS, ref_key, {"Ответственный_Key": user_key})
            self.edits += 1
            return user_key

    def hold(self, ref_key: str, set_name: str = _REQUESTS, user: str = "Менеджер Иванова") -> None:
        """The user opens the object in a form and starts changing it: 1C locks it, and an
        OData write to it fails with «Объект заблокирован» until :meth:`release`.

        Raises:
            ODataError: no such object (404, code 9).
        """
        with self.store.lock:
            if self.store.lookup(set_name, ref_key) is None:
                raise not_found()
            self.store.held[(set_name, ref_key)] = user

    def release(self, ref_key: str, set_name: str = _REQUESTS) -> bool:
        """The user closes the form; whether the object was held."""
        with self.store.lock:
            return self.store.held.pop((set_name, ref_key), None) is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, rate: float) -> None:
        """Edit about ``rate`` times a second in a daemon thread until :meth:`stop`."""
        self.stop()
        self._stop.clear()
        interval = 1.0 / max(rate, 0.001)
        self._thread = threading.Thread(target=self._run, args=(interval,),
                                        name="onec-emulator-user", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.step()
            except Exception:
                log.exception("simulated 1C user failed", extra={"event": "onec.emulator.user"})

    # ------------------------------------------------------------------ details
    def _states(self) -> dict[str, str]:
        table = self.store.tables.get(_STATES, {})
        index = self.store.schema.sets[_STATES].type.index
        return {row[index["Description"]]: ref for ref, row in table.items()}

    def _some_open_request(self) -> str | None:
        table = self.store.tables.get(_REQUESTS)
        if not table:
            return None
        index = self.store.schema.sets[_REQUESTS].type.index
        names = {ref: name for name, ref in self._states().items()}
        for _ in range(50):
            row = table.get(self._random_key(_REQUESTS))
            if row is None:
                continue
            if names.get(row[index["Состояние_Key"]]) in _NEXT and not row[index["DeletionMark"]]:
                return str(row[index["Ref_Key"]])
        return None

    def _random_key(self, set_name: str) -> str:
        """A random key; the key list is snapshotted again only when the size changes."""
        table = self.store.tables[set_name]
        keys = self._keys.get(set_name)
        if keys is None or len(keys) != len(table):
            keys = self._keys[set_name] = list(table)
        return keys[self.random.randrange(len(keys))]

    def _changes(self, ref: str) -> dict[str, Any]:
        index = self.store.schema.sets[_REQUESTS].type.index
        row = self.store.tables[_REQUESTS][ref]
        states = self._states()
        current = {v: k for k, v in states.items()}.get(row[index["Состояние_Key"]], "Новое")
        now = self.store.clock().replace(microsecond=0).isoformat()
        roll = self.random.random()
        if roll < 0.2:
            return {"Комментарий": self.random.choice(
                ("Перезвонить после обеда", "Клиент уточнил детали по телефону",
                 "Нужна консультация методиста", "Передано второй линии"))}
        if roll < 0.3:
            return {"Важность": self.random.choice(("Низкая", "Обычная", "Высокая"))}
        target = self.random.choice(_NEXT[current])
        changes: dict[str, Any] = {"Состояние_Key": states[target]}
        if current == "Новое":
            changes["ДатаПервогоОтвета"] = now
            if row[index["Ответственный_Key"]] == EMPTY_REF:
                changes["Ответственный_Key"] = self._some_agent()
        if target in ("Решено", "Закрыто") and row[index["ДатаЗавершения"]].startswith("0001"):
            changes["ДатаЗавершения"] = now
        return changes

    def _agents(self) -> list[str]:
        """The active users who work requests (no service user, nobody who left)."""
        users = self.store.tables.get("Catalog_Пользователи", {})
        index = self.store.schema.sets["Catalog_Пользователи"].type.index
        return [ref for ref, row in users.items() if not row[index["Служебный"]] and not row[index["Недействителен"]]]

    def _some_agent(self) -> str:
        agents = self._agents()
        return self.random.choice(agents) if agents else EMPTY_REF

    def _register(self) -> str:
        partners = self.store.tables.get("Catalog_Партнеры")
        partner = self._random_key("Catalog_Партнеры") if partners else EMPTY_REF
        new_state = self._states().get("Новое", EMPTY_REF)
        ref = f"{self.random.getrandbits(128):032x}"
        ref = f"{ref[:8]}-{ref[8:12]}-4{ref[13:16]}-a{ref[17:20]}-{ref[20:]}"
        self.store.create(_REQUESTS, {
            "Партнер_Key": partner, "Состояние_Key": new_state,
            "Тема": "Повторное обращение по телефону", "Описание": "Клиент позвонил повторно.",
            "Важность": "Обычная", "ВидОбращения": "Консультация", "КаналОбращения": "Телефон",
            "ИсточникОбращения": "Внешний"}, ref)
        self.store.set_posted(_REQUESTS, ref, posted=True, operational=False)
        self.edits += 1
        return ref
