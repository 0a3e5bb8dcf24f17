"""A job's JSON options → the command's argv, checked by the click command itself (one source of truth).

``{"command": "discover", "options": {"generator": "dsprites_generator", "num_directions": 6, "reg":
["topdis:weight=1"], "sefa_torgb": false}}`` becomes ``discover --generator=<its file> --num-directions=6
--reg=topdis:weight=1 --no-sefa-torgb``. Keys are the long option names (``num_directions`` or
``num-directions``), the positional ``DIRECTIONS`` of ``evaluate-directions`` is ``directions``. The argv
is then parsed by the command's own ``make_context``, so a bad value is refused with the message the CLI
prints. Models are given by name (:mod:`.registry`), never by path; options that name other files on
the server (``--config``, ``--data-path``, ``--dataset-path``, a classifier other than ``auto``/``none``)
and the options the server sets itself (``--out``, ``--resume``, ``--overwrite``, ``--quiet``) are refused.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..commands._options import HELP_OPTION_NAMES
from .errors import ApiError
from .registry import Registry

COMMANDS = {"discover": "discover", "evaluate-directions": "evaluate_directions", "train-vae": "train_vae"}
SERVER_OWNED = {"out": "the job's folder", "resume": "resuming", "overwrite": "replacing runs", "quiet": "output"}
SERVER_FILES = ("config_file", "data_path", "dataset_path")
CLASSIFIERS = ("auto", "none")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def click_command(name: str) -> click.Command:
    """The click command of job command ``name`` (422 for any other name)."""
    if name not in COMMANDS:
        raise ApiError(422, f"unknown job command {name!r}; expected one of {', '.join(COMMANDS)}")
    return importlib.import_module(f"latentdirs.commands.{COMMANDS[name]}").command


def option_key(param: click.Parameter) -> str:
    """The JSON key of a parameter: its long option name with underscores, or an argument's name."""
    if isinstance(param, click.Argument):
        return param.name.removesuffix("_path")
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return longs[0][2:].replace("-", "_") if longs else str(param.name)


def parameters(command: click.Command) -> dict[str, click.Parameter]:
    """``{key: parameter}`` of the options a request may set."""
    return {option_key(p): p for p in command.params if p.name is not None and option_key(p) not in SERVER_OWNED}


def _other_names(command: click.Command) -> dict[str, click.Parameter]:
    """``{key: parameter}`` for every other long name click accepts (older names kept as hidden aliases, e.g.
    train-vae's ``--data-path``): such a key is the same option, with the same checks."""
    return {opt[2:].replace("-", "_"): p for p in command.params for opt in p.opts
            if opt.startswith("--") and p.name is not None}


@dataclass(frozen=True)
class JobArgv:
    """The command line of a job, without ``--out``/``--resume``: ``options`` tokens and positional ``arguments``."""

    command: str
    options: list[str]
    arguments: list[str]

    def argv(self, out: Path, resume: bool = False) -> list[str]:
        """``[command, options…, --out=OUT, (--resume), --, arguments…]``."""
        return [self.command, *self.options, f"--out={out}", *(["--resume"] if resume else []), "--", *self.arguments]


def build_argv(command_name: str, options: dict[str, Any], registry: Registry, out: Path) -> JobArgv:
    """The checked command line of a job (see the module docstring); ``out`` is where it will run."""
    command = click_command(command_name)
    known = parameters(command)
    aliases = _other_names(command)
    tokens: list[str] = []
    arguments: list[str] = []
    for key, value in options.items():
        if not _KEY.match(key):
            raise ApiError(422, f"bad option name {key!r}")
        normal = key.replace("-", "_")
        if normal in SERVER_OWNED:
            raise ApiError(422, f"option '{normal}' is set by the server ({SERVER_OWNED[normal]}); leave it out")
        param = known.get(normal)
        if param is None and normal in aliases:
            param = aliases[normal]
            if option_key(param) in SERVER_OWNED:
                raise ApiError(422, f"option '{normal}' is set by the server; leave it out")
        if param is None:  # unknown: click says so, in the CLI's words
            tokens.append(f"--{normal.replace('_', '-')}" if value is True else f"--{normal.replace('_', '-')}={value}")
            continue
        if param.name in SERVER_FILES:
            raise ApiError(422, f"option '{normal}' names a file on the server; jobs read only the models the server "
                                "lists (put files under --models)")
        if value is None:
            continue
        value = _resolve(param, normal, value, registry)
        if isinstance(param, click.Argument):
            arguments.append(str(value))
        else:
            tokens.extend(_option_tokens(param, normal, value))
    job = JobArgv(command_name, tokens, arguments)
    check_argv(command, job, out)
    return job


def _resolve(param: click.Parameter, key: str, value: Any, registry: Registry) -> Any:
    """Model names → files; ``--classifier`` limited to ``auto``/``none``."""
    if param.name == "generator_path":
        return str(registry.generator(_text(key, value)).path)
    if param.name == "directions_path":
        return str(registry.direction_set(_text(key, value)).path)
    if param.name == "classifier" and value not in CLASSIFIERS:
        raise ApiError(422, f"option 'classifier': expected {' or '.join(CLASSIFIERS)} (the bundled classifier or "
                            "none); other classifiers are files on the server")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(422, f"option '{key}': expected a name (a string), got {value!r}")
    return value


def _option_tokens(param: click.Parameter, key: str, value: Any) -> list[str]:
    flag = f"--{key.replace('_', '-')}"
    long_opts = [opt for opt in param.opts if opt.startswith("--")]
    flag = long_opts[0] if long_opts else flag
    if getattr(param, "is_flag", False):
        if not isinstance(value, bool):
            raise ApiError(422, f"option '{key}' is a switch: give true or false, not {value!r}")
        if value:
            return [flag]
        return [param.secondary_opts[0]] if param.secondary_opts else []
    values = value if param.multiple and isinstance(value, list) else [value]
    if param.multiple and not isinstance(value, list):
        raise ApiError(422, f"option '{key}' is repeatable: give a list of values")
    tokens = []
    for item in values:
        if isinstance(item, (bool, list, dict)) or item is None:
            raise ApiError(422, f"option '{key}': expected a number or a string, got {item!r}")
        tokens.append(f"{flag}={item}")
    return tokens


def check_argv(command: click.Command, job: JobArgv, out: Path) -> None:
    """Parse the argv with the command's ``make_context``: a 422 with the CLI's message when click refuses it."""
    parent = click.Context(click.Group("latentdirs"), info_name="latentdirs", help_option_names=HELP_OPTION_NAMES)
    try:
        ctx = command.make_context(job.command, job.argv(out)[1:], parent=parent)
    except click.UsageError as exc:
        raise ApiError(422, usage_message(exc)) from None
    except click.ClickException as exc:
        raise ApiError(422, " ".join(exc.format_message().split())) from None
    ctx.close()


def usage_message(exc: click.UsageError) -> str:
    """One line, as ``latentdirs`` prints a usage error (without its ``error: `` prefix)."""
    where = exc.ctx.command_path if exc.ctx is not None else "latentdirs"
    return f"{' '.join(exc.format_message().split())} (see '{where} --help')"


def resume_wanted(command_name: str, out: Path) -> bool:
    """Whether a job started again (after a stop) continues with ``--resume``: discover when its folder holds a
    checkpoint, train-vae when its folder exists (it resumes or starts), evaluate-directions never (it starts
    over)."""
    if command_name == "discover":
        from ..directions.discovery import CHECKPOINT_FILE

        return (out / CHECKPOINT_FILE).is_file()
    if command_name == "train-vae":
        return out.is_dir() and any(out.iterdir())
    return False


def describe(command_name: str) -> dict[str, Any]:
    """The options a request may give (key, flags, type, default, help), for clients and the editor."""
    command = click_command(command_name)
    described = []
    for key, param in parameters(command).items():
        if param.name in SERVER_FILES:
            continue
        described.append({
            "key": key, "flags": [*param.opts, *param.secondary_opts], "type": param.type.name,
            "choices": list(getattr(param.type, "choices", []) or []) or None,
            "default": param.default if isinstance(param.default, (str, int, float, bool, type(None))) else None,
            "required": bool(param.required), "multiple": bool(param.multiple),
            "switch": bool(getattr(param, "is_flag", False)), "help": getattr(param, "help", None) or "",
        })
    return {"command": command_name, "help": (command.help or "").strip().split("\n")[0], "options": described}
