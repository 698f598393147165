"""The running application: addons, registry, configuration, store and event bus.

Built once per process (CLI command, scheduler, worker, test) and passed to jobs::

    app = App.from_file(Path("crm-bridge.yaml"))
    summary = app.run_job("sync.pull")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_bridge.addons import Addon, load_addons
from crm_bridge.config import BridgeConfig, config_from_text, load_config
from crm_bridge.errors import ConfigError, did_you_mean
from crm_bridge.events import EventBus
from crm_bridge.registry import Registry
from crm_bridge.store.engine import Store, open_store
from crm_bridge.store.migrate import upgrade

__all__ = ["App", "Clock", "FrozenClock", "Job", "load_registry"]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Job = Callable[["App", datetime], dict[str, Any]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until moved: for tests and replays (``App(clock=...)``).

    Example::

        clock = FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/Moscow")))
        app = App.from_text(config_text, clock=clock)
        clock.at += timedelta(hours=2)   # two hours later for every job that asks
    """

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            msg = "FrozenClock needs an aware datetime"
            raise ValueError(msg)
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def load_registry() -> tuple[Registry, list[Addon]]:
    """Discover and load every addon; the registry holds what they registered."""
    registry = Registry()
    addons = load_addons(registry)
    return registry, addons


@dataclass
class App:
    registry: Registry
    addons: list[Addon]
    config: BridgeConfig
    store: Store
    bus: EventBus
    clock: Clock = _utcnow
    _backends: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, config: BridgeConfig, registry: Registry, addons: list[Addon], *, clock: Clock = _utcnow) -> App:
        return cls(registry, addons, config, open_store(config.store.url, busy_timeout=config.store.busy_timeout), EventBus(registry), clock)

    @classmethod
    def from_file(cls, path: Path, *, environ: Mapping[str, str] | None = None) -> App:
        registry, addons = load_registry()
        return cls.build(load_config(path, registry, environ), registry, addons)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<text>", clock: Clock = _utcnow) -> App:
        registry, addons = load_registry()
        return cls.build(config_from_text(text, registry, file=file), registry, addons, clock=clock)

    def upgrade_db(self) -> None:
        """Apply every addon's migrations (``crm-bridge db upgrade``)."""
        upgrade(self.store, [a.path for a in self.addons])

    def backend(self, name: str) -> Any:
        """The adapter of backend `name`, created once by its kind's registered factory."""
        if name not in self._backends:
            backends = self.config.backends
            if name not in backends:
                raise ConfigError(f"{self.config.source}: no backend {name!r}.{did_you_mean(name, list(backends))} Defined: {', '.join(backends) or 'none'}")
            cfg = backends[name]
            factory = self.registry.get("backend.factory", name=cfg.kind)
            self._backends[name] = factory(name, cfg)
        return self._backends[name]

    def enabled_backends(self) -> list[str]:
        return [name for name, cfg in self.config.backends.items() if cfg.enabled]

    def jobs(self) -> dict[str, Job]:
        """Every job the addons registered (``registry.add(fn, usage="job", name="sync.pull")``)."""
        return {c.name: c.obj for c in self.registry.all("job")}

    def run_job(self, name: str, now: datetime | None = None) -> dict[str, Any]:
        jobs = self.jobs()
        if name not in jobs:
            raise ConfigError(f"no job {name!r}.{did_you_mean(name, list(jobs))} Known: {', '.join(jobs)}")
        result: dict[str, Any] = jobs[name](self, now or self.clock())
        return result

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()
        self.store.close()
