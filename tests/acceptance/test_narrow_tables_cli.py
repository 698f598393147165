"""Tables on an 80-column terminal: every line fits, and no name is split or cut (an
entity set is what `onec inspect --entity` takes; an addon is what `depends` names)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.addons import discover
from crm_bridge.cli import build


@pytest.fixture(scope="module")
def command() -> typer.Typer:
    return build()


def narrow(command: typer.Typer, *args: str) -> list[str]:
    done = CliRunner().invoke(command, list(args), env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.stdout
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    return lines


def cells(lines: list[str]) -> set[str]:
    """Every table cell's text, line by line (box characters and padding removed)."""
    return {c.strip() for line in lines for c in re.split(r"[│┃]", line) if c.strip()}


def test_addons_fit_80_columns_with_every_name_whole(command: typer.Typer) -> None:
    shown = cells(narrow(command, "addons"))
    assert {a.name for a in discover()} <= shown  # adapters.generic_rest was cut to "adapters.generic_r…"


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with Emulator(requests=5, seed=2, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        path = tmp_path / "crm-bridge.yaml"
        path.write_text(demo_config(emu.base_url, tmp_path / "s.db"), encoding="utf-8")
        yield path


def test_onec_inspect_fits_80_columns_and_never_splits_an_entity_set(command: typer.Typer, config: Path) -> None:
    lines = narrow(command, "-c", str(config), "onec", "inspect")
    words = {w for line in lines for w in line.split()}
    for name in ("Catalog_Контрагенты_КонтактнаяИнформация", "Catalog_КонтактныеЛицаПартнеров", "Document_Интерес",
                 "ExchangePlan_CRMBridge"):
        assert name in words, name  # was folded over three lines: "Catalog_Контраг" / "енты_Контактная" / ...
    fields = {w for line in narrow(command, "-c", str(config), "onec", "inspect", "--entity", "Document_Интерес")
              for w in line.split()}
    assert {"ИдентификаторВнешний", "КонтактноеЛицо_Key", "СрокПервогоОтвета", "ИсточникОбращения"} <= fields
