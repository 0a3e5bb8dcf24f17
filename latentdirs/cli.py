"""The ``latentdirs`` command line: a click group; each command lives in ``latentdirs/commands/``.

A module there defines ``command`` (a click command); it is added here by discovery, so commands
are added without touching this file. A :class:`~latentdirs.errors.UserError` raised anywhere, a
file-system ``OSError`` (permission denied, disk full, …) or one of click's own usage errors (unknown
option, bad choice, value out of range) becomes one ``error: …`` line and exit status 2; a training run
stopped by Ctrl-C (:class:`~latentdirs.interrupt.Interrupted`, its checkpoint saved) one
``interrupted: …`` line and exit status 130.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

import click

from . import __version__, commands
from .commands._options import HELP_OPTION_NAMES, THREADS, HelpContext
from .errors import LatentdirsWarning, UserError
from .interrupt import Interrupted


@click.group(context_settings={"help_option_names": HELP_OPTION_NAMES, "max_content_width": 100})
@click.version_option(__version__, prog_name="latentdirs")
@click.option("--threads", type=THREADS, default=None,
              help="torch CPU threads for any command (default: torch's; 1 is often fastest on a busy machine).")
def cli(threads: int | None) -> None:
    """latentdirs: disentangled representations — regularized VAEs and GAN latent directions.

    \b
    Examples:
      latentdirs train-vae --dataset dsprites --objective beta-vae --beta 4 --steps 2000 --out runs/bvae
      latentdirs --threads 1 discover --generator pretrained/dsprites_generator.json --out runs/dirs
      latentdirs losses
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _add_commands(group: click.Group) -> None:
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{commands.__name__}.{module.name}")
        command = getattr(loaded, "command", None)
        if isinstance(command, click.Command):
            _use_help_context(command)
            group.add_command(command)


def _use_help_context(command: click.Command) -> None:
    """One bracket of defaults/ranges per option in ``--help``, for a command and a group's subcommands."""
    command.context_class = HelpContext
    for sub in getattr(command, "commands", {}).values():
        _use_help_context(sub)


_add_commands(cli)


#: what click ≥ 8.2 raises for a group called without arguments (click 8.1 printed the help and exited 0)
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning bad input into one clear line and exit status 2 (and latentdirs' own
    warnings into one ``warning: …`` line each)."""
    try:
        with warnings.catch_warnings():
            _show_own_warnings_as_lines()
            cli.main(args=argv, prog_name="latentdirs", standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # a file-system failure no command turned into a UserError: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:  # plain `latentdirs`: the help as click shows it, not squashed into one line
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # click's own checks (unknown option, bad choice, range): one line too
        where = exc.ctx.command_path if exc.ctx is not None else "latentdirs"
        click.echo(f"error: {' '.join(exc.format_message().split())} (see '{where} --help')", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


def _show_own_warnings_as_lines() -> None:
    """Inside ``warnings.catch_warnings()``: a :class:`LatentdirsWarning` prints as ``warning: <message>`` on
    stderr (no file name, line or source); other warnings as Python shows them."""
    python_shows = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, LatentdirsWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            python_shows(message, category, filename, lineno, file, line)

    warnings.showwarning = show
