"""``python -m adapters.onec.emulator`` argument checks (no server is started)."""

from __future__ import annotations

import pytest

from adapters.onec.emulator.__main__ import main


@pytest.mark.parametrize("argv", [
    ["--user", "no-password-separator"],
    ["--fault", '{"kind": "teleport"}'],
    ["--fault", "not json"],
])
def test_bad_arguments_exit_with_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err
