"""The pictures of a run: reconstructions and latent traversals (PNG grids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io import save_image_grid
from .models import VAE

TRAVERSAL_OFFSETS = np.linspace(-2.0, 2.0, 9)


@torch.no_grad()
def reconstruction_grid(model: VAE, images: np.ndarray, path: Path) -> Path:
    """Inputs on the top row, ``sigmoid(decoder(μ(x)))`` below them."""
    device = next(model.parameters()).device
    x = torch.from_numpy(images).to(device)
    recon = torch.sigmoid(model.decode(model.encoder(x)[0])).cpu().numpy()
    return save_image_grid(path, np.concatenate([images, recon]), nrow=len(images), scale=2)


@torch.no_grad()
def traversal_grid(model: VAE, image: np.ndarray, path: Path, rows: list[int] | None = None,
                   offsets: np.ndarray = TRAVERSAL_OFFSETS) -> Path:
    """Row r decodes μ + t·e_d, d = ``rows[r]`` (default: every latent in order), for t in ``offsets``
    (μ = the posterior mean of ``image`` [C, H, W])."""
    device = next(model.parameters()).device
    mu = model.encoder(torch.from_numpy(image[None]).to(device))[0][0]
    dims, steps = mu.shape[0], len(offsets)
    rows = list(range(dims)) if rows is None else rows
    shifts = torch.as_tensor(offsets, dtype=mu.dtype, device=device)
    codes = mu.repeat(len(rows), steps, 1)  # [row r, column k, latent]
    codes[torch.arange(len(rows)), :, torch.as_tensor(rows, device=device)] += shifts
    decoded = torch.sigmoid(model.decode(codes.reshape(len(rows) * steps, dims))).cpu().numpy()
    return save_image_grid(path, decoded, nrow=steps, scale=2)
