"""Option types shared by the commands: click rejects bad values with one line before any work starts."""

from __future__ import annotations

import math
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


FINITE = FiniteFloat()
POSITIVE = FiniteFloat(min=0.0, min_open=True)
NON_NEGATIVE = FiniteFloat(min=0.0)
