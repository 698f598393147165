"""``crm-bridge`` run in the test's own process (``crm_bridge.cli.main(argv)``): seconds
faster than a subprocess, with its output and exit code, and the logging it configures
undone afterwards."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout

import pytest

from crm_bridge.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    """`crm-bridge ARGV…`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as ended:
        main(list(argv))
    code = ended.value.code
    return (code if isinstance(code, int) else 0), out.getvalue(), err.getvalue()


@contextmanager
def logging_kept() -> Iterator[None]:
    """The root logger's handlers and level as they were, whatever the commands set up."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
