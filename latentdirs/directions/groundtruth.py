"""Directions against ground truth: which factor of a procedural dataset each direction changes.

For a generator trained on a dataset with known factors (dSprites, threeDots, …) a factor classifier
(:mod:`latentdirs.factors`) reads the factors of generated images. For each direction ``k``,
``samples`` codes are traversed through strengths ``s_0 < … < s_T`` (σ units); the classifier's
expected value of factor ``j``, scaled to [0, 1] (``E[index] / (size_j − 1)``), gives ``v_{n,t,j}``,
and the effect of direction ``k`` on factor ``j`` is its mean total variation along the traversal

    M[k, j] = mean_n Σ_t |v_{n,t+1,j} − v_{n,t,j}|        (in units of the factor's range).

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
    """Expected factor indices scaled to [0, 1]: ``[N, J]`` from J arrays of probabilities ``[N, size_j]``."""
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
    """``M [K, J']``: mean total variation of each factor along each direction (see module docstring),
    and the indices of the J' factors it covers (factors with a single value cannot change and are left out)."""
    strengths = strengths or [float(s) for s in np.linspace(-3, 3, 7)]
    batch = renderer.sample(samples, torch_generator(seed, renderer.handle.device))
    rows, kept = [], []
    for k in range(dset.num_directions):
        frames = traverse(renderer, batch, direction_vector(dset, k), strengths)  # [N, T, C, H, W]
        n, t = frames.shape[:2]
        images = ((frames.clamp(-1, 1) + 1) / 2).reshape(n * t, *frames.shape[2:])
        probabilities = read(images)
        kept = [j for j, probs in enumerate(probabilities) if probs.shape[1] > 1]
        values = factor_values([probabilities[j] for j in kept]).reshape(n, t, -1)
        rows.append(np.abs(np.diff(values, axis=1)).sum(axis=1).mean(axis=0))
    return np.stack(rows), kept


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
