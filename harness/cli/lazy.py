"""A typer group whose commands are imported when they are used, not when the group is listed.

`harness --help` lists every command from a table (name -> module, attribute, one-line help)
without importing the command modules; `harness run ...` or `harness run --help` imports
harness.cli.run alone, turns it into a click command and keeps it. A test checks that each
table line matches the help of the command it loads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives and the line the group's help shows for it.

    `attribute` names either a `typer.Typer` (a group: `harness devices`) or a command function
    (`harness run`); a function's full help is its module's `HELP` when the module has one, else
    its docstring.
    """

    module: str
    attribute: str
    short_help: str

    def load(self, name: str) -> Any:
        """The click command or group, built the way `Typer.add_typer` / `Typer.command` build it."""
        # __import__ rather than importlib.import_module: `python -X importtime` reports the former
        __import__(self.module)
        module = sys.modules[self.module]
        target = getattr(module, self.attribute)
        if isinstance(target, typer.Typer):
            group = typer.main.get_group(target)
            group.name = name
            return group
        single = typer.Typer(add_completion=False)
        single.command(name, help=getattr(module, "HELP", None))(target)
        return typer.main.get_command(single)


class _Commands(MutableMapping[str, Any]):
    """The group's `commands`: every name is listed; a lazy one is imported on first lookup."""

    def __init__(self, lazy: Mapping[str, LazyCommand], loaded: MutableMapping[str, Any]) -> None:
        self.lazy = lazy
        self.loaded = loaded

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in self.lazy:
                raise KeyError(name)
            self.loaded[name] = self.lazy[name].load(name)
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self.loaded
        yield from (name for name in self.lazy if name not in self.loaded)

    def __len__(self) -> int:
        return len(self.loaded) + sum(1 for name in self.lazy if name not in self.loaded)


class LazyGroup(TyperGroup):
    """A TyperGroup over `lazy_commands` (set it in a subclass; typer builds the group itself).

    Its help lists the lazy commands by their one-line help without loading them.
    """

    lazy_commands: ClassVar[Mapping[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.lazy_commands, dict(self.commands))
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only: listing loads nothing

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        commands = self.commands
        assert isinstance(commands, _Commands)
        fresh = cmd_name in commands.lazy and cmd_name not in commands.loaded
        if fresh and self._listing:
            entry = commands.lazy[cmd_name]
            return TyperCommand(cmd_name, help=entry.short_help, short_help=entry.short_help)
        command = commands.get(cmd_name)
        if fresh and isinstance(command, TyperGroup):
            _help_not_asked_is_false(command, ctx)
        return command

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _help_not_asked_is_false(self, ctx, option)
        return option

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _help_not_asked_is_false(group: Any, ctx: Any, option: Any = None) -> None:
    """Give a group's --help flag the default False, here and in its subgroups.

    typer 0.29 coerces a flag that was not given (None: the help flag has no default) through a
    pydantic TypeAdapter, and a group processes its own --help whenever one of its subcommands
    runs: `harness run --help` paid ~45 ms of pydantic imports for the root's --help it was not
    given (`harness models example --help` for the root's and models'). False is the same "not
    asked" and skips the coercion; click keeps one help option per command, so setting it once
    holds. A group with options of its own (`harness devices --inventory`) still imports pydantic
    to coerce them.
    """
    option = option if option is not None else group.get_help_option(ctx)
    if option is not None and option.default is None:
        option.default = False
    if isinstance(group, LazyGroup):
        return  # its commands get theirs when they load
    for sub in group.commands.values():
        if isinstance(sub, TyperGroup):
            _help_not_asked_is_false(sub, ctx)
