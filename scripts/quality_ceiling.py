"""What the ellipses' colour score gives drawings that are not the dataset's images but look like them.

A generator is a continuous map of its latent: unless it learns to snap every geometric factor to the factor grid,
it draws objects between grid values, which the grid score (re-render of the read factors) charges like a flaw.
This script renders exact anti-aliased ellipses (the dataset's coverage formula,
``ColourEllipses.coverage(factors, offsets)``) whose scale, aspect, orientation and position are moved off the grid
by a uniform offset of at most ±J grid steps, and scores them with the bundled classifier on the grid and with the
geometry fitted between grid values (``fitted_mean``): the scores of a flawless but continuous renderer. J = 0 are
the dataset's own images (1 checks the formula against the renderer; their worst coverage TV, to as many other real
images, is the sampling noise of that TV); J = 0.5 spreads every factor uniformly over its range. Then the
dataset's images blurred by a box filter: how lenient both scores are to a soft drawing.

Example:
  python scripts/quality_ceiling.py --samples 1024
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.ndimage import uniform_filter

from latentdirs.data import ellipses, get_dataset
from latentdirs.data.base import composite
from latentdirs.gan.training.quality import load_quality_probe


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
    print("offset (grid steps)  grid score  fitted score  worst coverage TV")
    for jitter in (float(j) for j in args.jitters.split(",")):
        alpha = dataset.coverage(factors, rng.uniform(-jitter, jitter, (len(factors), len(ellipses.GEOMETRY))))
        images = composite(alpha, objects, backgrounds)
        summary = probe.score_images(torch.from_numpy(images.astype(np.float32)), fit=True)
        print(f"±{jitter:<19g} {summary['mean']:<11.4f} {summary['fitted_mean']:<13.4f} "
              f"{summary['coverage']['worst_tv']:.3f} ({summary['coverage']['worst_factor']})")
    print("box blur of the dataset's images (how lenient the score is to a soft drawing)")
    images = dataset.observations_from_factors(factors)
    for size in (3, 5, 7):
        blurred = uniform_filter(images, size=(1, 1, size, size), mode="nearest")
        summary = probe.score_images(torch.from_numpy(blurred), fit=True)
        print(f"{size} x {size} px{'':<12} {summary['mean']:<11.4f} {summary['fitted_mean']:<13.4f}")

if __name__ == "__main__":
    main()
