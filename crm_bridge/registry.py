"""Component registry keyed by (usage, model), in the spirit of OCA ``component``.

Addons register components explicitly in their ``register(registry)`` function::

    def register(registry: Registry) -> None:
        registry.add(OneCTicketAdapter, usage="backend.adapter", model="ticket")
        registry.add(OneCAdapter, usage="backend.adapter")      # any model

Lookup by (usage, model): a component registered for the model beats a generic one
(``model=None``); two candidates at the same level raise ``AmbiguousComponent``, none
raises ``NoComponent``; both name the candidates. Registration of one addon is atomic:
if its ``register`` raises or clashes, nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from crm_bridge.errors import BridgeError

__all__ = ["AmbiguousComponent", "Component", "ComponentClash", "NoComponent", "Registry"]


class NoComponent(BridgeError, LookupError):
    """No component is registered for a (usage, model)."""


class AmbiguousComponent(BridgeError, LookupError):
    """Several components answer the same (usage, model) at the same level."""


class ComponentClash(BridgeError):
    """A second registration under the same (usage, model, name)."""


@dataclass(frozen=True, slots=True)
class Component:
    """One registered object and where it came from."""

    obj: Any
    usage: str
    model: str | None
    name: str
    addon: str


def _default_name(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj))


@dataclass
class Registry:
    """All components of the loaded addons. Built once at start-up, read afterwards."""

    _items: dict[tuple[str, str | None, str], Component] = field(default_factory=dict)
    _addon: str = "crm_bridge"
    _pending: dict[tuple[str, str | None, str], Component] | None = None

    def add(self, obj: Any, *, usage: str, model: str | None = None, name: str | None = None) -> None:
        """Register `obj` for `usage` (and `model`, or any model when None).

        Raises:
            ComponentClash: the same (usage, model, name) is already registered.
        """
        key = (usage, model, name or _default_name(obj))
        target = self._pending if self._pending is not None else self._items
        existing = self._items.get(key) or target.get(key)
        if existing is not None:
            raise ComponentClash(
                f"addon {self._addon!r} registers {key[2]!r} for usage={usage!r} model={model!r}, "
                f"but addon {existing.addon!r} already did; give one of them another name"
            )
        target[key] = Component(obj, usage, model, key[2], self._addon)

    @contextmanager
    def loading(self, addon: str) -> Iterator[Registry]:
        """Collect one addon's registrations and keep them only if all of them succeed."""
        previous = self._addon
        self._addon, self._pending = addon, {}
        try:
            yield self
            self._items.update(self._pending)
        finally:
            self._addon, self._pending = previous, None

    def candidates(self, usage: str, model: str | None = None) -> list[Component]:
        """Components for `usage`: those for `model` if any, else the generic ones."""
        items = [c for c in self._items.values() if c.usage == usage]
        specific = [c for c in items if model is not None and c.model == model]
        return specific or [c for c in items if c.model is None]

    def component(self, usage: str, model: str | None = None, *, name: str | None = None) -> Component:
        """The one component for (usage, model), optionally narrowed by `name`."""
        found = self.candidates(usage, model)
        if name is not None:
            found = [c for c in found if c.name == name]
        if not found:
            known = sorted({f"{c.name} (model={c.model})" for c in self._items.values() if c.usage == usage})
            raise NoComponent(
                f"no component for usage={usage!r} model={model!r}"
                + (f" name={name!r}" if name else "")
                + (f"; registered for this usage: {', '.join(known)}" if known else "; none is registered for this usage")
            )
        if len(found) > 1:
            names = ", ".join(f"{c.name} from {c.addon}" for c in found)
            raise AmbiguousComponent(
                f"several components for usage={usage!r} model={model!r}: {names}; ask by name"
            )
        return found[0]

    def get(self, usage: str, model: str | None = None, *, name: str | None = None) -> Any:
        """The object registered for (usage, model); see ``component`` for the rules."""
        return self.component(usage, model, name=name).obj

    def all(self, usage: str) -> list[Component]:
        """Every component for `usage`, in registration order."""
        return [c for c in self._items.values() if c.usage == usage]
