"""numpy RandomState helpers: accept a seed or a RandomState, copy and compare states."""

from __future__ import annotations

import numpy as np

from ..errors import UserError


def as_random_state(random_state: int | np.random.RandomState) -> np.random.RandomState:
    """A RandomState from a seed, or the given RandomState itself (which is then advanced)."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    try:
        return np.random.RandomState(random_state)
    except (TypeError, ValueError):
        raise UserError(f"random_state must be an integer seed or a numpy RandomState, got {random_state!r}") from None


def copy_state(state: np.random.RandomState) -> np.random.RandomState:
    """An independent RandomState at the same point of the stream."""
    copy = np.random.RandomState()
    copy.set_state(state.get_state())
    return copy


def same_state(a: np.random.RandomState, b: np.random.RandomState) -> bool:
    """True when both would draw the same numbers next."""
    left, right = a.get_state(), b.get_state()
    return left[0] == right[0] and np.array_equal(left[1], right[1]) and left[2:] == right[2:]
