"""Weight schedules shared by loss terms: a delay, then a linear ramp from 0 (Rhodes & Lee 2021 ramp β and γ).

Step counts of a schedule (a delay, a ramp length) may be written relative to the run's length, as the
released scripts are: TopDis switches on after 1e5 of 1e6 iterations (``10%``), JL1-VAE ramps γ over 1e5
of 3e5 batches (``1/3``). :func:`schedule_steps` turns such a value into a number of steps.
"""

from __future__ import annotations

import math

from ..errors import UserError


def ramp_weight(weight: float, step: int, delay: int, ramp_steps: int) -> float:
    """``weight · min(1, (step − delay) / ramp_steps)`` from ``delay`` on, 0 before (``ramp_steps`` 0: a jump
    to ``weight`` at ``delay``). Steps count from 0, so the ramp starts at exactly 0 and reaches ``weight``
    after ``ramp_steps`` steps, as jlonevae's ``γ · num_batches_seen / annealingBatches``."""
    if step < delay:
        return 0.0
    if ramp_steps <= 0:
        return weight
    return weight * min(1.0, (step - delay) / ramp_steps)


def is_relative(value: str) -> bool:
    """Whether a schedule value is a share of the run (``10%``, ``1/3``) rather than a count of steps."""
    return value.strip().endswith("%") or "/" in value


def schedule_steps(value: str, total_steps: int | None, owner: str, name: str) -> int:
    """Steps meant by ``value``: a count (``100000``, ``1e5``), or a share of ``total_steps`` written as a
    percentage (``10%``) or a fraction (``1/3``), rounded to the nearest step. A UserError for anything else."""
    text = value.strip()
    problem = (f"{owner}: {name}={value!r} must be a number of steps (100000), or a percentage (10%) or "
               "fraction (1/3) of the run's steps")
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100.0
        elif "/" in text:
            numerator, denominator = text.split("/")
            share = int(numerator) / int(denominator)
        else:
            count = float(text)
            if not math.isfinite(count) or count < 0 or count != int(count):
                raise ValueError(text)
            return int(count)
    except (ValueError, ZeroDivisionError):
        raise UserError(problem) from None
    if not 0.0 <= share <= 1.0:
        raise UserError(problem)
    if total_steps is None:
        raise UserError(f"{owner}: {name}={value} is a share of the run's steps, which this trainer does not give")
    return math.floor(share * total_steps + 0.5)
