"""Addon discovery, validation and loading in dependency order.

An addon is a Python package with a ``__manifest__.py`` (a dict literal, read without
importing the package) and a ``register(registry)`` function in its ``__init__``. The
built-in addons are listed in ``BUILTIN``; third-party ones come through the entry-point
group ``crm_bridge.addons`` (value: the package's import name)::

    [project.entry-points."crm_bridge.addons"]
    my_addon = "my_addon"

Everything that can go wrong at load time stops start-up with one ``AddonError`` naming
the addon and the fix: a malformed manifest, a missing dependency, a cycle, a missing
external Python package.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm_bridge.errors import AddonError, did_you_mean
from crm_bridge.registry import Registry

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "Addon", "Manifest", "discover", "load_addons", "resolve_order"]

ENTRY_POINT_GROUP = "crm_bridge.addons"
BUILTIN: tuple[str, ...] = (
    "crm_bridge",
    "mapping",
    "sync",
    "sla",
    "routing",
    "notify",
    "adapters.onec",
    "adapters.generic_rest",
)


class Manifest(BaseModel):
    """What ``__manifest__.py`` must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+([.-]?\w+)?$")
    summary: str = ""
    depends: list[str] = []
    external_dependencies: dict[str, list[str]] = {}
    data: list[str] = []


@dataclass(frozen=True)
class Addon:
    """A discovered addon: its import name, folder and validated manifest."""

    module: str
    path: Path
    manifest: Manifest
    origin: str  # "builtin" or "entry point <dist>"

    @property
    def name(self) -> str:
        return self.manifest.name


def _read_manifest(module: str, origin: str) -> Addon:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AddonError(f"addon {module!r} ({origin}): no such package is installed; install it or remove it")
    folder = Path(next(iter(spec.submodule_search_locations)))
    manifest_file = folder / "__manifest__.py"
    if not manifest_file.is_file():
        raise AddonError(f"addon {module!r}: {manifest_file} is missing; every addon needs a manifest")
    try:
        raw = ast.literal_eval(manifest_file.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError) as exc:
        raise AddonError(
            f"{manifest_file}: not a plain dict literal ({exc}); write it as {{'name': ..., 'version': ...}}"
        ) from exc
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise AddonError(f"{manifest_file}: malformed manifest: {problems}") from exc
    if manifest.name != module:
        raise AddonError(f"{manifest_file}: name is {manifest.name!r} but the package is {module!r}; make them equal")
    return Addon(module, folder, manifest, origin)


def discover(extra: Iterable[str] = ()) -> list[Addon]:
    """Built-in addons, entry-point addons and `extra` module names, manifests validated."""
    found: dict[str, Addon] = {}
    sources: list[tuple[str, str]] = [(m, "builtin") for m in BUILTIN]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        sources.append((ep.value.split(":")[0], f"entry point {ep.name!r} of {dist}"))
    sources += [(m, "extra") for m in extra]
    for module, origin in sources:
        if module not in found:
            found[module] = _read_manifest(module, origin)
    return list(found.values())


def resolve_order(addons: Sequence[Addon]) -> list[Addon]:
    """Addons sorted so that each comes after everything it depends on.

    Raises:
        AddonError: a dependency is not installed, a cycle exists, or an external
            Python package is missing.
    """
    by_name = {a.name: a for a in addons}
    for addon in addons:
        for dep in addon.manifest.depends:
            if dep not in by_name:
                raise AddonError(
                    f"addon {addon.name!r} depends on {dep!r}, which is not installed.{did_you_mean(dep, list(by_name))}"
                    f" Install the distribution that provides {dep!r} or remove it from 'depends'"
                    f" in {addon.path / '__manifest__.py'}"
                )
        for package in addon.manifest.external_dependencies.get("python", []):
            if importlib.util.find_spec(package) is None:
                raise AddonError(
                    f"addon {addon.name!r} needs the Python package {package!r}, which is not importable;"
                    f" run: pip install {package}"
                )
    sorter = graphlib.TopologicalSorter({a.name: sorted(a.manifest.depends) for a in addons})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise AddonError(f"addon dependency cycle: {cycle}; remove one of these 'depends' entries") from exc
    return [by_name[name] for name in order]


def load_addons(registry: Registry, addons: Sequence[Addon] | None = None) -> list[Addon]:
    """Import every addon in dependency order and call its ``register(registry)``."""
    ordered = resolve_order(addons if addons is not None else discover())
    for addon in ordered:
        module: Any = importlib.import_module(addon.module)
        register = getattr(module, "register", None)
        if not callable(register):
            raise AddonError(f"addon {addon.name!r}: {addon.module}/__init__.py must define register(registry)")
        with registry.loading(addon.name):
            register(registry)
    return ordered
