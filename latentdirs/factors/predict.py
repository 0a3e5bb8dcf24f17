"""Reading factors from images with a trained :class:`FactorClassifier`."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .model import FactorClassifier


def _as_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise UserError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise UserError(f"images must be float NCHW in [0, 1], got dtype {images.dtype}")
    return images


@torch.no_grad()
def factor_probabilities(classifier: FactorClassifier, images: np.ndarray | torch.Tensor,
                         batch_size: int = 256) -> list[np.ndarray]:
    """Softmax probabilities per factor: a list of ``[N, factor_sizes[k]]`` float32 arrays.

    ``images``: NCHW float in [0, 1]. A factor with a single value gets a column of ones.
    """
    images = _as_tensor(images)
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in classifier.heads}
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size].to(device=device, dtype=torch.float32)
        for name, logits in classifier(batch).items():
            chunks[name].append(torch.softmax(logits, dim=1).cpu().numpy())
    classifier.train(was_training)
    n = images.shape[0]
    out = []
    for name, size in zip(classifier.factor_names, classifier.factor_sizes, strict=True):
        if name in chunks:
            out.append(np.concatenate(chunks[name]) if chunks[name] else np.zeros((0, size), np.float32))
        else:
            out.append(np.ones((n, 1), np.float32))
    return out


def predict_factors(classifier: FactorClassifier, images: np.ndarray | torch.Tensor,
                    batch_size: int = 256) -> np.ndarray:
    """Most likely factor indices ``[N, K]`` int64 for images NCHW in [0, 1]."""
    probabilities = factor_probabilities(classifier, images, batch_size)
    if not probabilities:
        return np.zeros((_as_tensor(images).shape[0], 0), np.int64)
    return np.stack([p.argmax(axis=1) for p in probabilities], axis=1).astype(np.int64)
