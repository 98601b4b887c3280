"""A click group whose commands are imported only when they run or show their own help.

``convolab --help`` lists every command with its one-line help from a table (no command module is
imported), so the listing, ``--version`` and ``convolab CMD --help`` never import torch, numpy or
matplotlib: each command module imports those inside its command functions.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """``lazy``: command name -> ``(module path, one-line help)``; the module has ``register(group)``.

    Commands added the usual way (``group.add_command``) take precedence and are listed too.
    """

    def __init__(self, *args, lazy: dict[str, tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in self.lazy:
            return None
        module = importlib.import_module(self.lazy[cmd_name][0])
        holder = click.Group()
        module.register(holder)  # a module may register several commands: keep them all
        for name, command in holder.commands.items():
            self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with one-line helps from the table for commands not imported yet."""
        rows = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        for name in names:
            if name in self.commands:
                if self.commands[name].hidden:
                    continue
                text = self.commands[name].get_short_help_str(limit)
            else:
                text = click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit)
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
