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

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from crm_bridge.errors import BridgeError

__all__ = ["AmbiguousComponent", "Component", "ComponentClash", "Lazy", "NoComponent", "Registry", "lazy_exports"]


class NoComponent(BridgeError, LookupError):
    """No component is registered for a (usage, model)."""


class AmbiguousComponent(BridgeError, LookupError):
    """Several components answer the same (usage, model) at the same level."""


class ComponentClash(BridgeError):
    """A second registration under the same (usage, model, name)."""


@dataclass(frozen=True, slots=True)
class Lazy:
    """A component named by where it lives, ``"package.module:name"``, imported the first
    time someone uses it. Addons register their engines so: every command loads every
    addon, and ``crm-bridge --help`` must not pay for SQLAlchemy, Jinja2 or zeep.

    Example::

        registry.add(Lazy("sla.engine:sla_tick"), usage="job", name="sla.tick")
        registry.add(Lazy("sla.cli:sla_app", summary="Due dates, policies, the ledger."), usage="cli.group", name="sla")

    A command's `summary` is what ``crm-bridge --help`` lists without importing it.
    """

    target: str
    summary: str = ""

    def resolve(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True, slots=True)
class Component:
    """One registered object (or the ``Lazy`` reference to it) and where it came from."""

    target: Any
    usage: str
    model: str | None
    name: str
    addon: str

    @property
    def obj(self) -> Any:
        """The registered object, imported now if it was registered ``Lazy``."""
        return self.target.resolve() if isinstance(self.target, Lazy) else self.target


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` that imports each public name from its module the first
    time it is asked for (``from sla import Calendar`` still works): loading an addon,
    which every command does, then costs only its ``register``.

    Example (``sla/__init__.py``; the names are imported under ``TYPE_CHECKING`` too)::

        __getattr__ = lazy_exports(__name__, {"Calendar": "sla.calendar"})
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__


def _default_name(obj: Any) -> str:
    if isinstance(obj, Lazy):
        return obj.target.rpartition(":")[2]
    return str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj))


@dataclass
class Registry:
    """All components of the loaded addons. Built once at start-up, read afterwards."""

    _items: dict[tuple[str, str | None, str], Component] = field(default_factory=dict)
    _addon: str = "crm_bridge"
    _pending: dict[tuple[str, str | None, str], Component] | None = None

    def add(self, obj: Any, *, usage: str, model: str | None = None, name: str | None = None) -> None:
        """Register `obj` (or a ``Lazy`` reference to it) for `usage` (and `model`, or any
        model when None).

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
