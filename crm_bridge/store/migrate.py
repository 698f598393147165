"""Alembic, driven from code: every loaded addon may ship ``<addon>/migrations/``.

Each addon's revisions form a branch labelled with the addon's name; a branch that needs
core tables declares ``depends_on`` the core revision. ``upgrade`` applies all heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crm_bridge.store.engine import Store

__all__ = ["alembic_config", "current_heads", "pending", "upgrade"]

_CORE = Path(__file__).parent / "migrations"


def alembic_config(store: Store, addon_paths: Sequence[Path] = ()) -> Config:
    """An Alembic config over the core scripts plus each addon's ``migrations/`` folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_CORE))
    locations = [str(_CORE / "versions")]
    locations += [str(p / "migrations") for p in addon_paths if (p / "migrations").is_dir()]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = store.engine
    return cfg


def upgrade(store: Store, addon_paths: Sequence[Path] = ()) -> None:
    """Bring the schema to the newest revision of every branch."""
    command.upgrade(alembic_config(store, addon_paths), "heads")


def current_heads(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def pending(store: Store, addon_paths: Sequence[Path] = ()) -> list[str]:
    """Revisions not applied yet (empty when the schema is current)."""
    script = ScriptDirectory.from_config(alembic_config(store, addon_paths))
    applied = current_heads(store)
    done: set[str] = set()
    for head in applied:
        done.update(r.revision for r in script.iterate_revisions(head, "base"))
    return [r.revision for r in script.walk_revisions() if r.revision not in done]
