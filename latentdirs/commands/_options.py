"""Option types shared by the commands: click rejects a bad value with one line before any work starts.

Every numeric option takes its type from a :class:`~latentdirs.validation.Bounds` of
:mod:`latentdirs.validation` (the same bounds check configs read from files), so NaN, ±inf, huge numbers and
out-of-range values never reach a command. Light on purpose: building the CLI imports no torch or numpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from .. import validation as v
from ..errors import UserError
from ._choices import EXECUTORS


class BoundedInt(click.ParamType):
    """An integer within a :class:`~latentdirs.validation.Bounds` (the help shows the range)."""

    name = "integer"

    def __init__(self, bounds: v.Bounds) -> None:
        self.bounds = bounds

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"INTEGER {self.bounds.text()}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip(), 10)
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        problem = self.bounds.problem(number)
        if problem:
            self.fail(problem, param, ctx)
        return number


class BoundedFloat(click.ParamType):
    """A finite float within a :class:`~latentdirs.validation.Bounds` (NaN and ±inf refused)."""

    name = "float"

    def __init__(self, bounds: v.Bounds) -> None:
        self.bounds = bounds

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"FLOAT {self.bounds.text()}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        problem = self.bounds.problem(number)
        if problem:
            self.fail(problem, param, ctx)
        return number


class Device(click.ParamType):
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked by spelling here (whether it exists is
    checked when the command opens it)."""

    name = "device"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "auto|cpu|cuda[:N]|mps"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return v.check_device_name(str(value))
        except UserError as exc:
            self.fail(str(exc), param, ctx)


class Spec(click.ParamType):
    """A text option parsed and checked by ``parse`` (which raises UserError); the command gets the text."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self.parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            self.parse(str(value))
        except UserError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


class AliasedOption(click.Option):
    """An option that also answers to older names (``aliases``), which still work but are not shown in help or
    error messages: one name per meaning across commands (``--dataset-path``, ``--class-index``)."""

    def __init__(self, *args: Any, aliases: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = tuple(aliases)

    def _shown(self, method: str, ctx: click.Context) -> Any:
        opts = self.opts
        self.opts = [opt for opt in opts if opt not in self.aliases]
        try:
            return getattr(super(), method)(ctx)
        finally:
            self.opts = opts

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        return self._shown("get_help_record", ctx)

    def get_error_hint(self, ctx: click.Context) -> str:
        return self._shown("get_error_hint", ctx)


_TWO_BRACKETS = re.compile(r"\s*\[([^\[\]]*)\]\s+\[([^\[\]]*)\]\s*$")


class HelpFormatter(click.HelpFormatter):
    """click's formatter, with one bracket per option: a default written in the help text (``[default: 0]``, or
    train-gan's bare ``[0]``) and click's own bracket after it (``[default: 0]``, a range) become one
    ``[default: 0; …]``."""

    def write_dl(self, rows: Any, *args: Any, **kwargs: Any) -> None:
        super().write_dl([(term, _one_bracket(text)) for term, text in rows], *args, **kwargs)


def _one_bracket(text: str) -> str:
    match = _TWO_BRACKETS.search(text)
    if match is None:
        return text
    first, second = match.groups()
    first = first if first.startswith("default") else f"default: {first}"
    return f"{text[:match.start()]}  [{first}; {second}]"


#: ``-h`` and ``--help`` on every command. click ≥ 8.2 caches a command's help option the first time a context
#: asks for it, so every context built for a command (the CLI's, the service's argv checks) must name both.
HELP_OPTION_NAMES = ["-h", "--help"]


class HelpContext(click.Context):
    """The context every latentdirs command gets (set by ``latentdirs.cli``): help through :class:`HelpFormatter`."""

    formatter_class = HelpFormatter


#: numpy's ``RandomState`` seeds (what ``--seed`` feeds everywhere)
SEED = BoundedInt(v.SEED)
#: a number of samples, rows, … (≥ 1)
COUNT = BoundedInt(v.COUNT)
STEPS = BoundedInt(v.STEPS)
EVERY = BoundedInt(v.EVERY)
EVERY_OR_END = BoundedInt(v.EVERY_OR_END)
BATCH = BoundedInt(v.BATCH)
SAMPLES = BoundedInt(v.SAMPLES)
#: samples whose spread is measured (σ needs at least two)
SPREAD_SAMPLES = BoundedInt(v.SPREAD_SAMPLES)
THREADS = BoundedInt(v.THREADS)
N_JOBS = BoundedInt(v.N_JOBS)
INDEX = BoundedInt(v.INDEX)
NUM_WS = BoundedInt(v.NUM_WS)
GRID = BoundedInt(v.GRID)
LR = BoundedFloat(v.LEARNING_RATE)
TRUNC = BoundedFloat(v.TRUNCATION)
STRENGTH = BoundedFloat(v.STRENGTH)
SPAN = BoundedFloat(v.SPAN)
FRACTION = BoundedFloat(v.FRACTION)
NUM_BINS = BoundedInt(v.NUM_BINS)
TRAVERSE = Spec("START:STOP:COUNT", v.parse_traverse)
SHIFT_RANGE = Spec("MIN:MAX", v.parse_shift_range)
RAY_ADDRESS = Spec("ADDRESS", v.parse_ray_address)
RUN_GPUS = BoundedFloat(v.RUN_GPUS)


def device_option(default: str | None = "auto", help: str = "auto, cpu, cuda, cuda:N or mps.") -> Callable:
    """``--device`` (spelling checked at parse time)."""
    return click.option("--device", type=Device(), default=default, show_default=default is not None, help=help)


def generator_options(func: Callable) -> Callable:
    """``--generator``, ``--device``, ``--class-index`` of the direction commands (``--trunc`` is per command)."""
    func = click.option("--class-index", type=INDEX, default=None, help="Class of a conditional generator.")(func)
    func = device_option()(func)
    func = click.option("--generator", "generator_path", required=True, type=click.Path(dir_okay=False),
                        help="Generator file: StyleGAN2-ADA .pkl, rosinality .pt, or latentdirs safetensors.")(func)
    return func


def overwrite_option(func: Callable) -> Callable:
    """``--overwrite``: let an output replace an existing file of another kind (never one of the inputs)."""
    return click.option("--overwrite", is_flag=True,
                        help="Replace an existing output file of another kind (an input is never replaced).")(func)


def generator_inputs(path: str | None) -> list[str]:
    """The files a ``--generator`` argument reads: the path, and both files of a latentdirs NAME.json +
    NAME.safetensors pair (outputs must not replace either)."""
    if path is None:
        return []
    from ..gan.loaders.native import native_paths

    return [path, *map(str, native_paths(path))]


def executor_options(func: Callable) -> Callable:
    """``--executor local|ray`` and ``--address`` (checked by :func:`check_executor`)."""
    func = click.option("--address", type=RAY_ADDRESS, default=None,
                        help="With --executor ray: the cluster: auto (the one `ray start` runs on this machine), "
                             "HOST:PORT of its head, ray://HOST:PORT (Ray Client) or local (a new instance) "
                             "[default: auto if there is one, else local]")(func)
    func = click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                        help="Where runs execute: processes on this machine, or Ray actors on a cluster, each "
                             "with its CPUs and GPUs (the output folder must then be on a file system every "
                             "node sees, at the same path).")(func)
    return func


def check_executor(executor: str, address: str | None) -> None:
    """One ``error:`` line for ``--address`` without ``--executor ray``, or ``--executor ray`` without Ray."""
    if address is not None and executor != "ray":
        raise UserError("--address is for --executor ray")
    if executor == "ray":
        from ..executors.ray_runs import import_ray

        import_ray()
