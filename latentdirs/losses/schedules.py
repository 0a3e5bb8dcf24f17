"""Weight schedules shared by loss terms: a delay, then a linear ramp from 0 (Rhodes & Lee 2021 ramp β and γ)."""

from __future__ import annotations


def ramp_weight(weight: float, step: int, delay: int, ramp_steps: int) -> float:
    """``weight · min(1, (step − delay) / ramp_steps)`` from ``delay`` on, 0 before (``ramp_steps`` 0: a jump
    to ``weight`` at ``delay``). Steps count from 0, so the ramp starts at exactly 0 and reaches ``weight``
    after ``ramp_steps`` steps, as jlonevae's ``γ · num_batches_seen / annealingBatches``."""
    if step < delay:
        return 0.0
    if ramp_steps <= 0:
        return weight
    return weight * min(1.0, (step - delay) / ramp_steps)
