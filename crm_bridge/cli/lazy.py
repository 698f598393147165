"""The ``crm-bridge`` group: core commands built at once, the addons' commands built only
when one of them is run.

Every command loads every addon, and an addon's commands import its engine (SQLAlchemy,
Jinja2, zeep…): building them all cost ~2 s of CPU before ``crm-bridge --help`` could
print a line. Here the top-level help lists an addon's command from its registration
(``Lazy(..., summary=...)``) without importing it; ``crm-bridge sla …`` imports the
``sla`` commands and nothing else.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from crm_bridge.registry import Component, Lazy, Registry

__all__ = ["AddonGroup"]


def _summary(comp: Component) -> str:
    target = comp.target
    if isinstance(target, Lazy):
        return target.summary
    info = getattr(target, "info", None)  # a Typer registered as the object itself
    return str(getattr(info, "help", None) or getattr(target, "__doc__", None) or "").strip().split("\n")[0]


def _command(comp: Component) -> Any:
    """The click command of an addon's registered Typer (a group) or function (a command),
    built as a sub-command is (no shell-completion options of its own)."""
    obj = comp.obj
    holder = typer.Typer(rich_markup_mode="rich", pretty_exceptions_enable=False)
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=comp.name)
    else:
        holder.command(comp.name)(obj)
    return typer.main.get_group(holder).commands[comp.name]


class _PlainCoercion:
    """Typer's coercion of one option, without pydantic for a word or a path.

    Typer (0.29 here) coerces every option through a pydantic ``TypeAdapter``; the root
    options (``--config``, ``--log-level``, ``--log-format``) are coerced before any
    sub-command runs, even ``crm-bridge sla --help``, and importing pydantic and building
    the adapters cost ~0.2 s of CPU there. A ``str`` stays as given, a ``Path`` goes through
    typer's own path checks (``coerce_cli_path``); anything else is typer's, built on
    first use, so behaviour is typer's.
    """

    def __init__(self, param: Any) -> None:
        self._param = param
        self._full: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        desc = self._param.type_descriptor
        if not (param.multiple or param.nargs == -1) and desc.file_annotation is None:
            if value is None:
                return None
            if desc.annotation is str and desc.parameter_info.parser is None and type(value) is str:
                return value
            info = desc.parameter_info
            if desc.annotation is Path and info.parser is None and info.path_type is None and isinstance(value, str | Path):
                from typer._param_types import coerce_cli_path

                # a str made a Path here, as pydantic's adapter would inside coerce_cli_path
                return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        if self._full is None:
            from typer._coercion import build_runtime_param

            self._full = build_runtime_param(desc)
        return self._full.coerce(value, param=param, ctx=ctx)


def _lighten(command: Any, ctx: Any) -> None:
    """Give `command`, its sub-commands and their help options the light coercion. The
    help option is made here with the parent's `ctx` (a sub-command's context inherits its
    option names) and cached by click, so the same one is parsed later."""
    param: Any
    for param in [*command.params, command.get_help_option(ctx)]:
        if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
            param._runtime_param = _PlainCoercion(param)
    for sub in getattr(command, "commands", {}).values():
        _lighten(sub, ctx)


class AddonGroup(TyperGroup):
    """A typer group that adds the commands of `registry` (``cli.group``, ``cli.command``)."""

    registry: Registry | None = None  # set by ``crm_bridge.cli.build`` before the group runs
    _listing = False

    def _addon_commands(self) -> dict[str, Component]:
        if AddonGroup.registry is None:
            return {}
        found = AddonGroup.registry.all("cli.group") + AddonGroup.registry.all("cli.command")
        return {c.name: c for c in found if c.name not in self.commands}

    # ``ctx`` and the commands are click's (vendored by newer typer): typed Any here, so
    # this module names neither click nor typer's private copy of it.
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *self._addon_commands()]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        comp = self._addon_commands().get(cmd_name)
        if comp is None:
            return None
        if self._listing:  # the top-level help: the registration's summary, nothing imported
            return TyperCommand(name=cmd_name, help=_summary(comp))
        command = _command(comp)
        _lighten(command, ctx)
        self.add_command(command, cmd_name)
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """As typer's, with "Did you mean" over the addons' commands too (typer looks only
        at the commands built so far)."""
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:
            message = getattr(exc, "message", None)
            if args and isinstance(message, str) and "Did you mean" not in message:
                guess = difflib.get_close_matches(args[0], self.list_commands(ctx), n=1)
                if guess:
                    exc.message = f"{message.rstrip('.')}. Did you mean {guess[0]!r}?"  # type: ignore[attr-defined]
            raise

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """As click's, the options coerced without pydantic (see ``_PlainCoercion``)."""
        _lighten(self, ctx)
        found: list[str] = super().parse_args(ctx, args)
        return found

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
