"""Timing shared by the benchmarks: runs that alternate, so that other load on the machine hits them alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def alternating(runs: dict[str, tuple[Callable[[], object], Callable[[], None]]], rounds: int,
                warmup: int = 1) -> dict[str, tuple[float, object]]:
    """Median time and last output of each ``(fn, sync)`` over ``rounds`` timed rounds, after ``warmup``
    untimed ones; the runs alternate within each round (``sync`` waits for a device before and after)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, object] = {}
    for round_ in range(warmup + rounds):
        for name, (fn, sync) in runs.items():
            sync()
            start = time.perf_counter()
            outputs[name] = fn()
            sync()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), outputs[name]) for name in runs}
