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
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    "intake",
    "kpi",
    "web",
    "csat",
    "adapters.onec",
    "adapters.generic_rest",
)


_VERSION = re.compile(r"^\d+\.\d+\.\d+([.-]?\w+)?$")


@dataclass(frozen=True)
class Manifest:
    """What ``__manifest__.py`` must hold. Checked by hand, not by pydantic: every command
    reads every manifest, and pydantic alone took a third of ``crm-bridge --help``."""

    name: str
    version: str
    summary: str = ""
    depends: list[str] = field(default_factory=list)
    external_dependencies: dict[str, list[str]] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: object) -> Manifest:
        """The manifest of the dict literal `raw`.

        Raises:
            ValueError: every problem, ``field: what is wrong`` joined by ``; ``.
        """
        if not isinstance(raw, dict):
            raise ValueError(f"(root): a dict is expected, not {type(raw).__name__}")  # noqa: TRY004 - one kind of problem for the caller
        problems = [f"{key}: not a manifest field; known: {', '.join(_FIELDS)}" for key in raw if key not in _FIELDS]
        for key in ("name", "version"):
            if key not in raw:
                problems.append(f"{key}: missing")
        for key, valid, what in _CHECKS:
            if key in raw and not valid(raw[key]):
                problems.append(f"{key}: {what}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**{k: v for k, v in raw.items() if k in _FIELDS})


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_FIELDS = ("name", "version", "summary", "depends", "external_dependencies", "data")
_CHECKS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("name", lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    ("version", lambda v: isinstance(v, str) and bool(_VERSION.match(v)), "like '1.0.0' (major.minor.patch)"),
    ("summary", lambda v: isinstance(v, str), "a string"),
    ("depends", _strings, "a list of addon names"),
    ("external_dependencies", lambda v: isinstance(v, dict) and all(_strings(x) for x in v.values()),
     "a dict of lists, e.g. {'python': ['yaml']}"),
    ("data", _strings, "a list of file names"),
)


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
        manifest = Manifest.parse(raw)
    except ValueError as exc:
        raise AddonError(f"{manifest_file}: malformed manifest: {exc}") from None
    if manifest.name != module:
        raise AddonError(f"{manifest_file}: name is {manifest.name!r} but the package is {module!r}; make them equal")
    return Addon(module, folder, manifest, origin)


def _declares_addons(folder: str) -> bool:
    """Whether an installed distribution in `folder` (an entry of ``sys.path``) declares
    the entry-point group; a zip file cannot be told without importlib.metadata: yes."""
    if not os.path.isdir(folder):
        return os.path.isfile(folder)  # a zip on sys.path; a missing entry or a path hook: no
    with os.scandir(folder) as entries:
        found = [e.path for e in entries if e.name.endswith((".dist-info", ".egg-info"))]
    for path in found:
        try:
            with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as file:  # noqa: PTH118, PTH123
                if f"[{ENTRY_POINT_GROUP}]" in file.read():
                    return True
        except OSError:
            continue
    return False


def _entry_points() -> Iterable[Any]:
    """The entry points of group ``crm_bridge.addons``. importlib.metadata costs a fifth
    of ``crm-bridge --help``, so it is asked only when some installed distribution's
    ``entry_points.txt`` names the group (a plain read of a few hundred small files)."""
    if not any(_declares_addons(folder or ".") for folder in sys.path):
        return ()
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def discover(extra: Iterable[str] = ()) -> list[Addon]:
    """Built-in addons, entry-point addons and `extra` module names, manifests validated."""
    found: dict[str, Addon] = {}
    sources: list[tuple[str, str]] = [(m, "builtin") for m in BUILTIN]
    for ep in _entry_points():
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
