"""Spec options → a command line, decided by the click command's own options.

``{"steps": 200, "reg": ["topdis:gamma=5"], "decoder": False, "fast": True}`` becomes
``--steps 200 --reg topdis:gamma=5 --no-decoder --fast``: a list repeats the option, ``true``/``false``
picks the flag of an on/off pair (``--decoder/--no-decoder``) or sets / leaves off a plain flag. A name the
command does not have is passed through as ``--name value``, so the command's parser reports it in its own
words.
"""

from __future__ import annotations

from typing import Any

import click

from ..errors import UserError


def _flag_table(command: click.Command) -> dict[str, tuple[click.Option, bool]]:
    """``--name`` → (its option, whether it is the option's primary spelling)."""
    table: dict[str, tuple[click.Option, bool]] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            table.update({opt: (param, True) for opt in param.opts})
            table.update({opt: (param, False) for opt in param.secondary_opts})
    return table


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def option_argv(command: click.Command, options: dict[str, Any], where: str) -> list[str]:
    """The command-line arguments for ``options`` of ``command`` (see the module docstring); ``where`` names
    them in errors."""
    table = _flag_table(command)
    argv: list[str] = []
    for name, value in options.items():
        flag = f"--{name}"
        param, primary = table.get(flag, (None, True))
        if isinstance(value, list) and param is not None and not param.multiple and len(value) > 1:
            raise UserError(f"{where}: option {name} takes one value; a list is only for a repeatable option")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool) and param is not None and param.is_flag:
                argv += _flag(param, flag, primary, item)
            elif isinstance(item, bool):
                argv += [flag, "true" if item else "false"]
            else:
                argv += [flag, _text(item)]
    return argv


def _flag(param: click.Option, flag: str, primary: bool, on: bool) -> list[str]:
    """``--x`` / ``--no-x`` for an on/off pair; ``--x`` or nothing for a plain flag."""
    if param.secondary_opts:
        wanted = primary if on else not primary
        return [param.opts[0] if wanted else param.secondary_opts[0]]
    return [flag] if on else []
