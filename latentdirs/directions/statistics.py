"""Statistics of sampled base codes along directions: the scale of each direction and baselines.

For unit directions ``â_k`` and base codes ``x_i`` (z or w of random samples):
``scale_k = std_i ⟨x_i, â_k⟩`` (sample std, n − 1), ``mean = mean_i x_i``, ``total_variance =
Σ_j var_i x_ij`` (so ``scale_k² / total_variance`` is the share of variance along ``â_k``, GANSpace's
``var_ratio`` for principal components), and ``random_stdevs`` the scales of K random unit directions
(GANSpace's ``random_stdevs`` baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..validation import check_fits
from .dirfile import DirectionSet
from .spaces import SpaceRenderer


@dataclass
class LatentStatistics:
    scales: torch.Tensor  # [K]
    mean: torch.Tensor  # [d]
    random_stdevs: torch.Tensor  # [K]
    total_variance: float


def sample_base_codes(renderer: SpaceRenderer, n: int, generator: torch.Generator, batch: int = 512) -> torch.Tensor:
    """``n`` base codes ``[n, d]`` in the renderer's space (float64 on CPU; checked first against free memory for
    them and the two working copies the statistics make)."""
    check_fits(3 * n * renderer.dim * 8, f"{n} sampled codes of dimension {renderer.dim}",
               hint="give fewer samples: --stats-samples / --pca-samples")
    chunks = []
    for start in range(0, n, batch):
        chunks.append(renderer.sample(min(batch, n - start), generator).base.double().cpu())
    return torch.cat(chunks, dim=0)


def direction_statistics(directions: torch.Tensor, codes: torch.Tensor, generator: torch.Generator) -> LatentStatistics:
    """Scales of ``directions [K, d]`` over ``codes [n, d]`` and of K random unit directions."""
    codes = codes.double()
    unit = directions.detach().double().cpu()
    unit = unit / unit.norm(dim=1, keepdim=True).clamp_min(1e-12)
    centred = codes - codes.mean(dim=0, keepdim=True)
    scales = (centred @ unit.T).std(dim=0)
    random = torch.randn(unit.shape, generator=generator, device=generator.device).double().cpu()
    random = random / random.norm(dim=1, keepdim=True)
    random_stdevs = (centred @ random.T).std(dim=0)
    total = float(centred.var(dim=0).sum())
    return LatentStatistics(scales.float(), codes.mean(dim=0).float(), random_stdevs.float(), total)


def make_direction_set(renderer: SpaceRenderer, directions: torch.Tensor, *, method: str, generator: torch.Generator,
                       num_samples: int = 4096, codes: torch.Tensor | None = None, **fields) -> DirectionSet:
    """A :class:`DirectionSet` for ``directions [K, d]`` with statistics over ``num_samples`` sampled codes.

    ``codes`` reuses already sampled base codes; other keyword arguments go to :class:`DirectionSet`.
    """
    if codes is None:
        codes = sample_base_codes(renderer, num_samples, generator)
    stats = direction_statistics(directions, codes, generator)
    return DirectionSet(directions=directions, scales=stats.scales, mean=stats.mean, space=renderer.space,
                        generator=renderer.handle.describe(), method=method, random_stdevs=stats.random_stdevs,
                        total_variance=stats.total_variance, **fields)
