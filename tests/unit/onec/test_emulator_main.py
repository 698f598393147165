"""``python -m adapters.onec.emulator`` and ``crm-bridge emulator`` options, parsed by
``adapters.onec.emulator.launch`` (no server is started)."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

import pytest

from adapters.onec.emulator.__main__ import main
from adapters.onec.emulator.launch import emulator_from_text


@pytest.mark.parametrize("argv", [
    ["--user", "no-password-separator"],
    ["--fault", '{"kind": "teleport"}'],
    ["--fault", "not json"],
    ["--fault", '[{"kind": "drop"}]'],
    ["--now", "tomorrow"],
    ["--requests", "0"],
    ["--requests", "1000001"],
])
def test_bad_arguments_exit_with_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_text_options_become_the_emulator_they_describe() -> None:
    emu = emulator_from_text(requests=100, customers=12, seed=3, now="2026-03-02T12:00:00",
                             users=["Интеграция:p:w"], faults=['{"kind": "status", "status": 503, "count": 2}'],
                             unpublished=["Catalog_Контрагенты"], allow_delete=True)
    assert emu.seed.counts["Catalog_Партнеры"] == 12 + 3  # and three partner folders
    assert emu.users == {"Интеграция": "p:w"}  # the password keeps its colon
    assert [(f.kind, f.status, f.count) for f in emu.faults.list()] == [("status", 503, 2)]
    assert "Catalog_Контрагенты" in emu.unpublished
    assert emu.service.config.allow_delete
    assert datetime(2026, 3, 2, 12, 0) <= emu.clock() < datetime(2026, 3, 2, 12, 1)


def test_an_unknown_set_to_unpublish_is_a_value_error_naming_the_option() -> None:
    with pytest.raises(ValueError, match="--unpublish"):
        emulator_from_text(requests=100, unpublished=["Catalog_Нету"])


def test_a_port_in_use_is_a_usage_error_that_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            main(["--port", str(port), "--requests", "5"])
    assert exit_.value.code == 2
    said = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in said
    assert "--port 0 for any free one" in said


def test_the_atom_switches_reach_the_exchange_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setattr("adapters.onec.emulator.__main__.serve", lambda emu, on_ready=None: served.append(emu))
    assert main(["--port", "0", "--requests", "100"]) == 0
    assert main(["--port", "0", "--requests", "100", "--typed-atom", "--atom-tombstones"]) == 0
    default, switched = (emu.exchange for emu in served)
    assert (default.real_1c_atom, default.atom_tombstones) == (True, False)  # as a real base: untyped text
    assert (switched.real_1c_atom, switched.atom_tombstones) == (False, True)
