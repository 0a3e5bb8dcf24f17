"""How the colour score of the ellipses treats a generator that draws perfect ellipses *between* the grid's values.

The bundled-generator goal (mean colour score ≥ 0.9) is measured against re-renders on the dataset's factor grid.
A generator is a continuous map of its latent, so unless it learns to snap every geometric factor to the grid it
draws some objects between grid values. This script renders exact anti-aliased ellipses (the dataset's own
coverage formula) whose scale, aspect, orientation and position are moved off their grid values by a uniform
offset of at most ±J grid steps, and scores them with the bundled classifier — the score a flawless but
continuous renderer would get (real images of the dataset, with their worst coverage TV to as many other real images
— the sampling noise of that TV). J = 0 are the dataset's own images (score 1 checks the formula against the
dataset's renderer); J = 0.5 spreads every factor uniformly over
its whole range, as a generator that interpolates smoothly between the grid's values does.

Example:
  python scripts/quality_ceiling.py --samples 1024
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from latentdirs.data import ellipses, get_dataset
from latentdirs.gan.training.quality import load_quality_probe


def off_grid(grid: np.ndarray, index: np.ndarray, jitter: float, rng: np.random.RandomState) -> np.ndarray:
    """Values ``interp(index + U(−jitter, jitter))`` on ``grid``, clipped to its ends."""
    position = np.clip(index + rng.uniform(-jitter, jitter, len(index)), 0, len(grid) - 1)
    return np.interp(position, np.arange(len(grid)), grid)


def coverage(semi_major: np.ndarray, aspect: np.ndarray, theta: np.ndarray, centre_x: np.ndarray,
             centre_y: np.ndarray, size: int = ellipses.IMAGE_SIZE) -> np.ndarray:
    """Anti-aliased coverage ``[N, size, size]``: ``clip(½ − g / ‖∇g‖, 0, 1)`` with ``g = (u/a)² + (v/b)² − 1``
    at each pixel centre (the formula of :mod:`latentdirs.data.ellipses`, at any real-valued geometry)."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = cols[None] - centre_x[:, None, None], rows[None] - centre_y[:, None, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u, v = cos * dx - sin * dy, -sin * dx - cos * dy
    a = semi_major[:, None, None]
    b = a * aspect[:, None, None]
    g = (u / a) ** 2 + (v / b) ** 2 - 1.0
    gradient = 2.0 * np.sqrt((u / a) ** 2 / a ** 2 + (v / b) ** 2 / b ** 2)
    return np.clip(0.5 - g / np.maximum(gradient, 1e-6), 0.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--jitters", default="0,0.1,0.25,0.5", help="comma-separated offsets J in grid steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = get_dataset("ellipses")
    probe = load_quality_probe("auto", dataset)
    rng = np.random.RandomState(args.seed)
    factors = dataset.sample_factors(args.samples, rng)
    objects, backgrounds = dataset.colours(factors)
    print("offset (grid steps)  colour score  worst coverage TV")
    for jitter in (float(j) for j in args.jitters.split(",")):
        theta = (factors[:, 4] + rng.uniform(-jitter, jitter, len(factors))) * np.pi / len(ellipses.ORIENTATIONS)
        alpha = coverage(off_grid(ellipses.SEMI_MAJOR, factors[:, 2], jitter, rng),
                         off_grid(ellipses.ASPECTS, factors[:, 3], jitter, rng),
                         theta,
                         off_grid(ellipses.POSITIONS, factors[:, 5], jitter, rng),
                         off_grid(ellipses.POSITIONS, factors[:, 6], jitter, rng))[:, None]
        images = backgrounds[:, :, None, None] + alpha * (objects - backgrounds)[:, :, None, None]
        summary = probe.score_images(torch.from_numpy(images.astype(np.float32)))
        print(f"±{jitter:<19g} {summary['mean']:<13.4f} {summary['coverage']['worst_tv']:.3f} "
              f"({summary['coverage']['worst_factor']})")


if __name__ == "__main__":
    main()
