"""Rendering speed of the procedural datasets (images/s), against an in-memory lookup.

For each dataset and batch size the script times ``observations_from_factors`` on freshly sampled
factors, and, as the reference measured in the same run, gathering the same number of random images
from a preloaded uint8 array and converting them to float32 (what a file-backed dataset held in
memory costs). ``ratio`` = render time / lookup time.

    python scripts/bench_data.py            # about 20 s
    python scripts/bench_data.py --quick    # about 5 s
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from latentdirs.data import GroundTruthData, get_dataset


def images_per_second(step: Callable[[], object], batch: int, seconds: float) -> float:
    step()  # warm-up
    done, start = 0, time.perf_counter()
    while True:
        step()
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def render(data: GroundTruthData, batch: int, random_state: np.random.RandomState) -> np.ndarray:
    return data.observations_from_factors(data.sample_factors(batch, random_state))


def lookup(stored: np.ndarray, batch: int, random_state: np.random.RandomState) -> np.ndarray:
    rows = random_state.randint(len(stored), size=batch)
    return stored[rows].astype(np.float32) * np.float32(1 / 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings (noisier)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    print(f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"numpy {np.__version__} · python {platform.python_version()}")
    print(f"{'dataset':<10} {'batch':>6} {'render img/s':>14} {'lookup img/s':>14} {'ratio':>7}")
    random_state = np.random.RandomState(args.seed)
    stored = random_state.randint(0, 256, size=(20000, 1, 64, 64)).astype(np.uint8)
    for name in ("dsprites", "threedots"):
        data = get_dataset(name)
        for batch in (64, 1024):
            rendered = images_per_second(partial(render, data, batch, random_state), batch, seconds)
            looked_up = images_per_second(partial(lookup, stored, batch, random_state), batch, seconds)
            print(f"{name:<10} {batch:>6} {rendered:>14,.0f} {looked_up:>14,.0f} {looked_up / rendered:>7.1f}")


if __name__ == "__main__":
    main()
