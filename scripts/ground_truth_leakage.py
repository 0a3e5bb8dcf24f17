"""How the ground-truth reader of a bundled generator (ellipses, dSprites) reacts to changes that move no factor,
or one.

``evaluate-directions`` names the factor a direction moves from the bundled factor classifier's readings, with
the effect ``M[k, j] = mean |Δ v_j| / b_j`` of :mod:`latentdirs.directions.groundtruth` (``v_j`` the expected
index scaled to [0, 1], ``b_j`` its mean change between two independent images). This script applies the same
formula to the dataset's own images and a known change of them:

* a half grid step of one factor (the image halfway between two neighbouring values): the row should have its
  one factor and zeros elsewhere;
* changes that move no factor (box blur, Gaussian noise, contrast, brightness, desaturation): every entry
  should be near 0. A factor that reads such a change is where a generator's off-palette or soft drawings land
  as a spurious "main factor".

Example:
  python scripts/ground_truth_leakage.py --samples 512
  python scripts/ground_truth_leakage.py --classifier runs/ellipses_clf_satjit   # another classifier's reading
  python scripts/ground_truth_leakage.py --dataset dsprites   # the dSprites generator's reader
  python scripts/ground_truth_leakage.py --dataset dsprites --split-by shape   # one table per shape
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.ndimage import uniform_filter

from latentdirs.data import get_dataset
from latentdirs.directions.groundtruth import classifier_reader, factor_values
from latentdirs.gan.training.quality import load_quality_probe


def nuisances(rng: np.random.RandomState) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Changes of an image ``[N, 3, H, W]`` in [0, 1] that keep every factor."""
    def grey(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1, keepdims=True)

    return {
        "box blur 3 px": lambda x: uniform_filter(x, size=(1, 1, 3, 3), mode="nearest"),
        "box blur 5 px": lambda x: uniform_filter(x, size=(1, 1, 5, 5), mode="nearest"),
        "noise σ 0.05": lambda x: np.clip(x + 0.05 * rng.randn(*x.shape).astype(np.float32), 0, 1),
        "contrast × 0.8": lambda x: 0.5 + 0.8 * (x - 0.5),
        "brightness × 0.85": lambda x: 0.85 * x,
        "saturation × 0.7": lambda x: grey(x) + 0.7 * (x - grey(x)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("ellipses", "dsprites"), default="ellipses")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", default="auto", help="factor classifier stem ('auto': the bundled one)")
    parser.add_argument("--split-by", metavar="FACTOR", help="also one table per value of this factor (the "
                        "denominator b_j stays that of all images)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = get_dataset(args.dataset)
    if args.split_by is not None and args.split_by not in dataset.factor_names:
        parser.error(f"--split-by {args.split_by}: not a factor of {args.dataset} ({', '.join(dataset.factor_names)})")
    read = classifier_reader(load_quality_probe(args.classifier, dataset).classifier)
    rng = np.random.RandomState(args.seed)
    factors = dataset.sample_factors(args.samples, rng)
    images = dataset.observations_from_factors(factors)

    def values(x: np.ndarray) -> np.ndarray:
        return factor_values(read(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))))

    base = values(images)
    baseline = np.abs(base - np.roll(base, 1, axis=0)).mean(axis=0)
    rows: dict[str, np.ndarray] = {}
    for j, name in enumerate(dataset.factor_names):
        moved = factors.copy()
        step = np.where(moved[:, j] + 1 < dataset.factor_sizes[j], 1, -1)
        moved[:, j] += step
        rows[f"{name} ½ step"] = np.abs(values(0.5 * (images + dataset.observations_from_factors(moved))) - base)
    for label, change in nuisances(rng).items():
        rows[label] = np.abs(values(change(images)) - base)
    print(f"{args.samples} dataset images; effect M = mean |Δv_j| / b_j as evaluate-directions computes it")
    print_table(rows, baseline, dataset.factor_names, np.ones(args.samples, dtype=bool))
    if args.split_by is not None:
        j = dataset.factor_names.index(args.split_by)
        for value in range(dataset.factor_sizes[j]):
            chosen = factors[:, j] == value
            if not chosen.any():
                continue
            print(f"\n{args.split_by} = {value} ({chosen.sum()} images)")
            print_table(rows, baseline, dataset.factor_names, chosen)


def print_table(rows: dict[str, np.ndarray], baseline: np.ndarray, names: Sequence[str], chosen: np.ndarray) -> None:
    """One line per change: the mean effect on each factor over the ``chosen`` images."""
    print(f"{'change':<22}" + "".join(f"{name:>12}" for name in names))
    for label, delta in rows.items():
        print(f"{label:<22}" + "".join(f"{m:>12.3f}" for m in delta[chosen].mean(axis=0) / baseline))


if __name__ == "__main__":
    main()
