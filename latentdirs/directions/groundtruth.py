"""Directions against ground truth: which factor of a procedural dataset each direction changes.

For a generator trained on a dataset with known factors (dSprites, threeDots, …) a factor classifier
(:mod:`latentdirs.factors`) reads the factors of generated images. For each direction ``k``,
``samples`` codes ``w_n`` are traversed through strengths ``s_0 < … < s_T`` (σ units); the classifier's
expected value of factor ``j``, scaled to [0, 1] (``E[index] / (size_j − 1)``), gives ``v_{n,t,j}``.
The effect of direction ``k`` on factor ``j`` is its mean end-to-end change, relative to how much the
factor differs between two independent samples of the generator:

    M[k, j] = mean_n |v_{n,T,j} − v_{n,0,j}| / b_j,      b_j = mean_n |v_j(G(w_n)) − v_j(G(w_{n+1}))|

so ``M = 1`` means "changes factor j as much as drawing a new image does", whatever the number of
values of the factor. The end-to-end change (not the total variation along the path) keeps the
classifier's frame-to-frame jitter out; a factor the generator never varies (``b_j = 0``) is left out.

Scores over the directions × factors matrix ``M``:

- DCI-style **disentanglement** ``D = Σ_k ρ_k (1 − H_J(M_k· / Σ_j M_kj))`` with ``ρ_k`` the share of
  all change due to direction ``k``, and **completeness** ``C = Σ_j ρ_j (1 − H_K(M_·j / Σ_k M_kj))``
  (Eastwood & Williams, ICLR 2018, with ``M`` in place of the regressor importances; computed by
  :mod:`latentdirs.metrics.dci`);
- MIG-style **gap**: per factor, the largest minus the second largest share of its change coming
  from one direction, averaged over factors (a factor no direction changes scores 0), after
  Chen et al.'s MIG (NeurIPS 2018) with change shares in place of normalized mutual information.

No other direction tool measures this; it needs a generator whose training data has ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..seeding import torch_generator
from .dirfile import DirectionSet
from .editing import direction_vector, traverse
from .spaces import SpaceRenderer

FactorReader = Callable[[torch.Tensor], list[np.ndarray]]  # images [N, C, H, W] in [0, 1] → J × [N, size_j]


@dataclass
class GroundTruthResult:
    matrix: list[list[float]]  # [K, J]
    factor_names: list[str]
    disentanglement: float
    completeness: float
    gap: float
    gap_per_factor: list[float]
    main_factor: list[str]  # per direction: the factor it changes most ("—" when none)
    main_share: list[float]  # per direction: that factor's share of the direction's change


def factor_values(probabilities: list[np.ndarray]) -> np.ndarray:
    """Expected factor indices scaled to [0, 1]: ``[N, J]`` from J arrays of probabilities ``[N, size_j]``
    (0 for a factor with a single value)."""
    columns = []
    for probs in probabilities:
        size = probs.shape[1]
        columns.append(probs @ np.arange(size) / (size - 1) if size > 1 else np.zeros(probs.shape[0]))
    return np.stack(columns, axis=1)


def classifier_reader(classifier: torch.nn.Module) -> FactorReader:
    """A :data:`FactorReader` from a :class:`latentdirs.factors.FactorClassifier` (resizes to its input size)."""
    from ..factors import factor_probabilities

    size = classifier.observation_shape[-1]

    def read(images: torch.Tensor) -> list[np.ndarray]:
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return factor_probabilities(classifier, images.float().cpu())

    return read


def effect_matrix(renderer: SpaceRenderer, dset: DirectionSet, read: FactorReader, *, samples: int = 32,
                  strengths: list[float] | None = None, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """``M [K, J']``: the relative effect of each direction on each factor (see module docstring), and
    the indices of the J' factors it covers (those with more than one value that the generator varies)."""
    strengths = strengths or [float(s) for s in np.linspace(-3, 3, 7)]
    if samples < 2:
        raise ValueError("need at least two samples")
    batch = renderer.sample(samples, torch_generator(seed, renderer.handle.device))
    with torch.no_grad():
        base = factor_values(read((renderer.render(batch).clamp(-1, 1) + 1) / 2))
    baseline = np.abs(base - np.roll(base, 1, axis=0)).mean(axis=0)
    rows = []
    for k in range(dset.num_directions):
        ends = traverse(renderer, batch, direction_vector(dset, k), [strengths[0], strengths[-1]])  # [N, 2, ...]
        n = ends.shape[0]
        values = factor_values(read(((ends.clamp(-1, 1) + 1) / 2).reshape(2 * n, *ends.shape[2:]))).reshape(n, 2, -1)
        rows.append(np.abs(values[:, 1] - values[:, 0]).mean(axis=0))
    kept = [j for j in range(base.shape[1]) if baseline[j] > 0]
    matrix = np.stack(rows)[:, kept] / baseline[kept]
    return matrix, kept


def score_effects(matrix: np.ndarray, factor_names: list[str]) -> GroundTruthResult:
    """D, C and the gap of a directions × factors effect matrix (see module docstring)."""
    from ..metrics.dci import completeness_score, disentanglement_score

    matrix = np.asarray(matrix, dtype=np.float64)
    columns = matrix.sum(axis=0)
    gaps = []
    for j in range(matrix.shape[1]):
        if columns[j] <= 0 or matrix.shape[0] < 2:
            gaps.append(0.0 if columns[j] <= 0 else 1.0)
            continue
        top = np.sort(matrix[:, j] / columns[j])[::-1]
        gaps.append(float(top[0] - top[1]))
    rows = matrix.sum(axis=1)
    main = [factor_names[int(np.argmax(row))] if total > 0 else "—" for row, total in zip(matrix, rows, strict=True)]
    share = [float(row.max() / total) if total > 0 else 0.0 for row, total in zip(matrix, rows, strict=True)]
    return GroundTruthResult(matrix.tolist(), list(factor_names), disentanglement_score(matrix),
                             completeness_score(matrix), float(np.mean(gaps)), gaps, main, share)


def open_ground_truth(handle, dataset: str | None, dataset_path: str | None, classifier: str,
                      device: torch.device | str) -> tuple[object | None, str]:
    """A factor classifier probe (``latentdirs.gan.training.QualityProbe``) for the generator's dataset, or
    ``(None, why)``. ``dataset`` defaults to the one recorded by ``latentdirs train-gan`` in the generator."""
    provenance = getattr(handle.module, "source", {}) or {}
    training = (provenance.get("provenance") or {}).get("training") or {}
    name = dataset or training.get("dataset")
    if not name:
        return None, ("ground truth skipped: the generator does not record a training dataset "
                      "(give --dataset for a generator trained on a procedural dataset)")
    from ..data import get_dataset
    from ..gan.training import load_quality_probe

    data = get_dataset(name, dataset_path if dataset else (dataset_path or training.get("dataset_path")))
    if handle.image_shape[0] != data.observation_shape[0]:
        return None, (f"ground truth skipped: the generator makes {handle.image_shape[0]}-channel images, "
                      f"dataset {data.name!r} has {data.observation_shape[0]}")
    probe = load_quality_probe(classifier, data, device)
    if probe is None:
        return None, (f"ground truth skipped: no factor classifier for {data.name!r} (give --classifier, or train "
                      "one with `latentdirs train-factor-classifier`)")
    return probe, f"ground truth: factors of {data.name!r} read by a factor classifier"
