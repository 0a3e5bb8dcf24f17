"""Reconstruction losses of disentanglement_lib: summed over pixels, averaged over the batch.

- Bernoulli: −log p(x|z) = Σ_pixels BCE(sigmoid(ℓ), x) = Σ max(ℓ, 0) − ℓ·x + log(1 + e^{−|ℓ|})
  (``bernoulli_loss`` with logits; not reduced by the entropy of non-binary targets).
- Gaussian: Σ_pixels (x − sigmoid(ℓ))² (``l2_loss`` with logits: fixed variance, constants dropped).

``ℓ`` are the decoder's logits ``[B, C, H, W]``; ``x`` the images in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def bernoulli_reconstruction(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the per-image summed sigmoid cross-entropy."""
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return per_pixel.flatten(1).sum(1).mean()


def gaussian_reconstruction(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the per-image summed squared error of ``sigmoid(logits)``."""
    return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()


RECONSTRUCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bernoulli": bernoulli_reconstruction,
    "gaussian": gaussian_reconstruction,
}
