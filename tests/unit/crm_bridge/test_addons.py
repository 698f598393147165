from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_bridge.addons import BUILTIN, discover, load_addons, resolve_order
from crm_bridge.errors import AddonError
from crm_bridge.registry import Registry


@pytest.fixture
def addon_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("xaddon_")]:
        del sys.modules[name]


def make_addon(root: Path, name: str, manifest: str, body: str = "def register(registry):\n    registry.add(object(), usage='x', name=__name__)\n") -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__manifest__.py").write_text(textwrap.dedent(manifest))
    (pkg / "__init__.py").write_text(body)


def test_builtin_addons_load_in_dependency_order() -> None:
    registry = Registry()
    order = [a.name for a in load_addons(registry)]
    assert set(order) >= set(BUILTIN)
    for addon in load_addons(Registry()):
        for dep in addon.manifest.depends:
            assert order.index(dep) < order.index(addon.name), f"{addon.name} loaded before {dep}"
    assert registry.get("job", name="sync.pull") is not None


def test_missing_dependency_names_the_addon_and_suggests_the_fix(addon_dir: Path) -> None:
    make_addon(addon_dir, "xaddon_a", "{'name': 'xaddon_a', 'version': '1.0.0', 'depends': ['crm_bridge', 'synk']}")
    with pytest.raises(AddonError, match=r"'xaddon_a' depends on 'synk'.*Did you mean 'sync'\?"):
        resolve_order(discover(extra=["xaddon_a"]))


def test_dependency_cycle_is_reported_with_its_members(addon_dir: Path) -> None:
    make_addon(addon_dir, "xaddon_a", "{'name': 'xaddon_a', 'version': '1.0.0', 'depends': ['xaddon_b']}")
    make_addon(addon_dir, "xaddon_b", "{'name': 'xaddon_b', 'version': '1.0.0', 'depends': ['xaddon_a']}")
    with pytest.raises(AddonError, match=r"cycle: xaddon_\w -> xaddon_\w -> xaddon_\w"):
        resolve_order(discover(extra=["xaddon_a", "xaddon_b"]))


def test_malformed_manifest_is_named_with_the_field(addon_dir: Path) -> None:
    make_addon(addon_dir, "xaddon_a", "{'name': 'xaddon_a', 'version': 'one', 'dependz': []}")
    with pytest.raises(AddonError) as err:
        discover(extra=["xaddon_a"])
    message = str(err.value)
    assert "xaddon_a/__manifest__.py" in message
    assert "version" in message
    assert "dependz" in message


def test_manifest_that_is_code_not_a_literal_is_refused(addon_dir: Path) -> None:
    make_addon(addon_dir, "xaddon_a", "__import__('os').system('true')")
    with pytest.raises(AddonError, match="not a plain dict literal"):
        discover(extra=["xaddon_a"])


def test_missing_external_python_package_says_what_to_install(addon_dir: Path) -> None:
    make_addon(
        addon_dir, "xaddon_a",
        "{'name': 'xaddon_a', 'version': '1.0.0', 'depends': ['crm_bridge'], 'external_dependencies': {'python': ['no_such_pkg_xyz']}}",
    )
    with pytest.raises(AddonError, match="pip install no_such_pkg_xyz"):
        resolve_order(discover(extra=["xaddon_a"]))


def test_third_party_addon_is_found_through_the_entry_point_group(addon_dir: Path) -> None:
    make_addon(addon_dir, "xaddon_ep", "{'name': 'xaddon_ep', 'version': '2.1.0', 'depends': ['sync']}")
    dist = addon_dir / "xaddon_ep-2.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: xaddon-ep\nVersion: 2.1.0\n")
    (dist / "entry_points.txt").write_text("[crm_bridge.addons]\nxaddon_ep = xaddon_ep\n")
    registry = Registry()
    loaded = load_addons(registry)
    names = [a.name for a in loaded]
    assert "xaddon_ep" in names
    assert names.index("xaddon_ep") > names.index("sync")
    assert registry.component("x", name="xaddon_ep").addon == "xaddon_ep"
