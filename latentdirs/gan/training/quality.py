"""The FID-free quality signal of a generator trained on a ground-truth dataset.

Samples ``G(z)`` for fixed latents (constant noise), maps them to [0, 1], resizes them to the
dataset's resolution when needed, and scores them with :func:`latentdirs.factors.rerender_quality`
(mean IoU between each sample and the re-render of its predicted factors for dSprites) plus the
proportions of the predicted values of each factor (e.g. how often each shape appears) and, per
factor, their total variation distance to the proportions the classifier predicts on as many real
images (``coverage``: a generator stuck at one position shows a position TV near 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ...data.base import GroundTruthData
from ...errors import UserError
from ...factors import (
    FactorClassifier,
    classifier_input,
    coverage_gaps,
    load_factor_classifier,
    predict_factors,
    rerender_quality,
    resolve_metric,
)
from ...pretrained import bundled_factor_classifier
from ...seeding import torch_generator

QUALITY_SEED_OFFSET = 2_000_003
REAL_IMAGES_SEED = 4_000_037


@torch.no_grad()
def generator_samples(G: torch.nn.Module, n: int, seed: int, batch_size: int = 64,
                      truncation_psi: float = 1.0) -> torch.Tensor:
    """``n`` samples of ``G`` for latents drawn from ``seed``, constant noise, in [0, 1]: ``[n, C, R, R]`` (CPU)."""
    device = next(G.parameters()).device
    z = torch.randn([n, G.z_dim], generator=torch_generator(seed, device), device=device)
    chunks = []
    for start in range(0, n, batch_size):
        images = G(z[start:start + batch_size], None, truncation_psi=truncation_psi, noise_mode="const")
        chunks.append(images.clamp(-1, 1).add(1).div(2).cpu())
    return torch.cat(chunks) if chunks else torch.zeros(0)


@dataclass
class QualityProbe:
    """A factor classifier and its dataset, ready to score generators."""

    classifier: FactorClassifier
    dataset: GroundTruthData
    _real_proportions: dict[int, dict[str, list[float]]] = field(default_factory=dict, init=False, repr=False)

    def real_proportions(self, n: int) -> dict[str, list[float]]:
        """Proportions of the factor values predicted on ``n`` real images (fixed seed; cached)."""
        if n not in self._real_proportions:
            images = self.dataset.sample_observations(n, np.random.RandomState(REAL_IMAGES_SEED))
            self._real_proportions[n] = rerender_quality(self.classifier, self.dataset, images).proportions
        return self._real_proportions[n]

    def _at_dataset_size(self, images: torch.Tensor) -> np.ndarray:
        size = self.dataset.observation_shape[-1]
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return images.numpy()

    def score_images(self, images: torch.Tensor, fit: bool = False) -> dict[str, Any]:
        """Re-render quality summary of images in [0, 1] (resized to the dataset's resolution), with the
        coverage gaps to as many real images (``{"tv_to_real": {factor: TV}, "worst_factor", "worst_tv"}``);
        ``fit`` adds ``fitted_mean``, the score with the geometry fitted between grid values."""
        summary = rerender_quality(self.classifier, self.dataset, self._at_dataset_size(images), fit=fit).summary()
        gaps = coverage_gaps(summary["proportions"], self.real_proportions(len(images)))
        worst = max(gaps, key=gaps.get) if gaps else None
        summary["coverage"] = {"tv_to_real": gaps, "worst_factor": worst, "worst_tv": gaps.get(worst, 0.0)}
        return summary

    def rerender_pairs(self, images: torch.Tensor) -> np.ndarray:
        """Each image beside the re-render of its predicted factors: ``[2N, C, R, R]`` (sample, re-render, …),
        at the dataset's resolution — what the score compares, to look at."""
        images = self._at_dataset_size(images)
        read = classifier_input(images, resolve_metric(self.dataset))
        rerendered = self.dataset.observations_from_factors(predict_factors(self.classifier, read))
        return np.stack([images, rerendered], axis=1).reshape(-1, *images.shape[1:])

    def samples(self, G: torch.nn.Module, n: int, seed: int, truncation_psi: float = 1.0) -> torch.Tensor:
        """The ``n`` samples :meth:`measure` scores (latents from ``seed`` offset by a constant; deterministic)."""
        with torch.random.fork_rng(devices=[]):
            return generator_samples(G, n, seed + QUALITY_SEED_OFFSET, truncation_psi=truncation_psi)

    def measure(self, G: torch.nn.Module, n: int, seed: int, truncation_psi: float = 1.0,
                fit: bool = False) -> dict[str, Any]:
        """Score ``n`` samples of ``G`` (see :meth:`samples`)."""
        return self.score_images(self.samples(G, n, seed, truncation_psi), fit=fit)


def load_quality_probe(classifier: str | None, dataset: GroundTruthData,
                       device: torch.device | str = "cpu") -> QualityProbe | None:
    """``classifier``: a path (stem, .json or .safetensors), ``auto`` (the bundled one for the dataset, if any)
    or ``none``/None (no quality signal)."""
    if classifier is None or classifier == "none":
        return None
    if classifier == "auto":
        path = bundled_factor_classifier(dataset.name)
        if path is None:
            return None
    else:
        path = classifier
    model = load_factor_classifier(path, device)
    if tuple(model.factor_sizes) != tuple(dataset.factor_sizes):
        raise UserError(f"factor classifier {path} was trained for factors {list(model.factor_sizes)}, "
                        f"not those of dataset {dataset.name!r} {list(dataset.factor_sizes)}")
    return QualityProbe(model, dataset)
