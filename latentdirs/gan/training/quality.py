"""The FID-free quality signal of a generator trained on a ground-truth dataset.

Samples ``G(z)`` for fixed latents (constant noise), maps them to [0, 1], resizes them to the
dataset's resolution when needed, and scores them with :func:`latentdirs.factors.rerender_quality`
(mean IoU between each sample and the re-render of its predicted factors for dSprites) plus the
proportions of the predicted values of each factor (e.g. how often each shape appears).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from ...data.base import GroundTruthData
from ...errors import UserError
from ...factors import FactorClassifier, load_factor_classifier, rerender_quality
from ...pretrained import bundled_factor_classifier
from ...seeding import torch_generator

QUALITY_SEED_OFFSET = 2_000_003


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

    def score_images(self, images: torch.Tensor) -> dict[str, Any]:
        """Re-render quality summary of images in [0, 1] (resized to the dataset's resolution)."""
        size = self.dataset.observation_shape[-1]
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return rerender_quality(self.classifier, self.dataset, images.numpy()).summary()

    def measure(self, G: torch.nn.Module, n: int, seed: int, truncation_psi: float = 1.0) -> dict[str, Any]:
        """Score ``n`` samples of ``G`` (latents from ``seed`` offset by a constant; deterministic)."""
        with torch.random.fork_rng(devices=[]):
            images = generator_samples(G, n, seed + QUALITY_SEED_OFFSET, truncation_psi=truncation_psi)
        return self.score_images(images)


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
