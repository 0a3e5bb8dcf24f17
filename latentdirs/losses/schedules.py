"""Weight schedules shared by loss terms: a delay, then a linear ramp from 0 (Rhodes & Lee 2021 ramp β and γ)."""

from __future__ import annotations


def ramp_weight(weight: float, step: int, delay: int, ramp_steps: int) -> float:
    """``weight`` × 0 before ``delay``, then a linear ramp to 1 over ``ramp_steps`` steps (0: a jump)."""
    if step < delay:
        return 0.0
    if ramp_steps <= 0:
        return weight
    return weight * min(1.0, (step - delay + 1) / ramp_steps)
