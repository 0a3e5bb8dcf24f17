"""Option types shared by the commands: click rejects bad values with one line before any work starts."""

from __future__ import annotations

import math
import re
from typing import Any

import click

#: numpy's ``RandomState`` seeds (what ``--seed`` feeds everywhere)
SEED = click.IntRange(0, 2**32 - 1)
#: a number of samples, steps, rows, …
COUNT = click.IntRange(min=1)


class FiniteFloat(click.FloatRange):
    """A float range that also refuses NaN and ±inf (``click.FloatRange`` lets NaN through its bounds)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def _describe_range(self) -> str:
        """No bounds: nothing to show (click's own text would be ``x<=None``)."""
        return "" if self.min is None and self.max is None else super()._describe_range()


FINITE = FiniteFloat()
POSITIVE = FiniteFloat(min=0.0, min_open=True)
NON_NEGATIVE = FiniteFloat(min=0.0)


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
    train-gan's bare ``[0]``) and click's own range (``[0<=x<=4294967295]``) become ``[default: 0; 0<=x<=…]``."""

    def write_dl(self, rows: Any, *args: Any, **kwargs: Any) -> None:
        super().write_dl([(term, _one_bracket(text)) for term, text in rows], *args, **kwargs)


def _one_bracket(text: str) -> str:
    match = _TWO_BRACKETS.search(text)
    if match is None:
        return text
    first, second = match.groups()
    first = first if first.startswith("default") else f"default: {first}"
    return f"{text[:match.start()]}  [{first}; {second}]"


class HelpContext(click.Context):
    """The context every latentdirs command gets (set by ``latentdirs.cli``): help through :class:`HelpFormatter`."""

    formatter_class = HelpFormatter
