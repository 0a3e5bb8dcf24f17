"""Local MIG and local modularity: MIG and modularity on neighbourhoods of the factor space.

Rhodes & Lee, "Local Disentanglement in Variational Auto-Encoders Using Jacobian L1 Regularization",
NeurIPS 2021 (arXiv 2106.02923); protocol of the authors' code (``local_mig.py``,
``local_modularity.py``, ``utils.local_sample_factors`` and their gin configs).

For each locality proportion p (default 0.1, 0.2, 0.3, 0.6, 1.0), starting from a fresh
``numpy.random.RandomState(random_state)`` (the authors evaluate every p with seed 0):

1. For each of ``num_clusters`` (20) clusters: draw a centre c_k = randint(size_k) for every factor
   in order. A factor with ``size_k >= continuity_cutoff`` (10) that is not categorical (see
   :func:`unordered_factors`) gets radius r_k = floor(size_k · p); other factors get r_k = 0 (held at c_k).
2. Draw ``num_points`` (10 000) rows in batches of 16; per batch and factor in order,
   ``randint(max(0, c_k − r_k), min(size_k − 1, c_k + r_k) + 1, dtype=int32)``. Encode their images.
3. Discretise each code dim into ``num_bins`` (5) equal-width bins over the cluster's own range;
   mutual information with the (undiscretised) factors as for MIG.
4. Local MIG of the cluster: the MIG normalised gap averaged over the factors that vary in the
   cluster (held factors have zero entropy and are skipped, as the authors intend with ``nanmean``);
   local modularity of the cluster: modularity of the mutual-information matrix over all K factors
   (held factors contribute zero columns, as in the authors' code).
5. The score for p is the mean over clusters (clusters where no factor varies are skipped).

Local MIG and local modularity for the same p use the same clusters (the authors draw them in two
separate runs from the same seed, which gives the same points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.base import GroundTruthData
from ..errors import UserError
from .discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from .mig import mig_per_factor
from .modularity import modularity_from_mutual_info
from .sampling import ENCODE_BATCH_SIZE, EncodeFn, encode

PROPORTIONS = (0.1, 0.2, 0.3, 0.6, 1.0)
# Categorical factors without a notion of "nearby" values, by name: the authors' dataset configs hold
# dSprites' shape and MPI3D's object colour, object shape and background colour at the centre.
UNORDERED_FACTOR_NAMES = frozenset({"shape", "object_shape", "object_color", "background_color"})


def unordered_factors(dataset: GroundTruthData) -> tuple[int, ...]:
    """Indices of categorical factors: ``dataset.unordered_factors`` when defined, else by factor name."""
    declared = getattr(dataset, "unordered_factors", None)
    if declared is not None:
        return tuple(int(k) for k in declared)
    return tuple(k for k, name in enumerate(dataset.factor_names) if name in UNORDERED_FACTOR_NAMES)


def local_radii(
    factor_sizes: Sequence[int], proportion: float, continuity_cutoff: int = 10, unordered_factors: Sequence[int] = ()
) -> np.ndarray:
    """Sampling radius ``[K]`` of each factor around a cluster centre."""
    return np.array(
        [
            int(np.floor(size * proportion)) if size >= continuity_cutoff and k not in unordered_factors else 0
            for k, size in enumerate(factor_sizes)
        ],
        dtype=np.int64,
    )


def sample_local_factors(
    factor_sizes: Sequence[int], radii: np.ndarray, num: int, rng: np.random.RandomState, batch_size: int = 16
) -> np.ndarray:
    """A cluster: draw its centre, then ``num`` rows ``[num, K]`` around it (see the module docstring)."""
    centre = [rng.randint(size) for size in factor_sizes]
    low = [max(0, c - r) for c, r in zip(centre, radii, strict=True)]
    high = [min(size - 1, c + r) for size, c, r in zip(factor_sizes, centre, radii, strict=True)]
    batches = []
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        batch = np.zeros((count, len(factor_sizes)), dtype=np.int64)
        for k in range(len(factor_sizes)):
            batch[:, k] = rng.randint(low[k], high[k] + 1, size=count, dtype=np.int32)
        batches.append(batch)
    return np.concatenate(batches, axis=0)


def local_cluster_scores(codes: np.ndarray, factors: np.ndarray, num_bins: int = 5) -> tuple[float, float]:
    """(local MIG, local modularity) of one cluster's codes ``[n, D]`` and factors ``[n, K]``."""
    mutual_info = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    gaps = mig_per_factor(mutual_info, discrete_entropy(factors))
    local_mig = float(np.nanmean(gaps)) if np.isfinite(gaps).any() else float("nan")
    return local_mig, modularity_from_mutual_info(mutual_info)


def local_scores(
    dataset: GroundTruthData,
    encode_fn: EncodeFn,
    proportions: Sequence[float] = PROPORTIONS,
    num_points: int = 10000,
    num_clusters: int = 20,
    num_bins: int = 5,
    continuity_cutoff: int = 10,
    unordered: Sequence[int] | None = None,
    random_state: int = 0,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> dict[str, dict[str, float]]:
    """``{"local_mig": {p: score}, "local_modularity": {p: score}}`` with p formatted like ``"0.1"``.

    ``unordered`` lists categorical factors, always held at the centre (default:
    :func:`unordered_factors` of the dataset).
    """
    if num_points < 2 or num_clusters < 1 or num_bins < 1:
        raise UserError("local metrics need num_points >= 2, num_clusters >= 1 and num_bins >= 1")
    if any(not 0.0 < p <= 1.0 for p in proportions):
        raise UserError(f"locality proportions must lie in (0, 1], got {list(proportions)}")
    sizes = list(dataset.factor_sizes)
    held = unordered_factors(dataset) if unordered is None else tuple(unordered)
    result: dict[str, dict[str, float]] = {"local_mig": {}, "local_modularity": {}}
    for proportion in proportions:
        rng = np.random.RandomState(random_state)
        radii = local_radii(sizes, proportion, continuity_cutoff, held)
        migs, modularities = [], []
        for _ in range(num_clusters):
            factors = sample_local_factors(sizes, radii, num_points, rng)
            codes = encode(dataset, encode_fn, factors, encode_batch_size)
            local_mig, local_modularity = local_cluster_scores(codes, factors, num_bins)
            migs.append(local_mig)
            modularities.append(local_modularity)
        key = f"{proportion:g}"
        result["local_mig"][key] = float(np.nanmean(migs)) if np.isfinite(migs).any() else float("nan")
        result["local_modularity"][key] = float(np.mean(modularities))
    return result
