"""The distribution-preserving quantile shift of one latent coordinate (TopDis).

Balabin, Voronkova, Trofimov, Burnaev & Barannikov, "Disentanglement Learning via Topology",
ICML 2024, Sec. 4 (and the released code): for the values ``v`` of one coordinate over a batch,
with the batch mean ``m`` and (unbiased) standard deviation ``s``,

    u_i = Φ((v_i − m) / s),    kept: 0 < u_i + σC < 1,    v'_i = m + s · Φ⁻¹(u_i + σC)

with ``Φ`` the standard normal CDF, ``C`` the shift in quantile space (1/8 in the paper) and
``σ = ±1`` its sign. If ``v ~ N(m, s²)`` then ``u`` is uniform, so the shifted values of the kept
points are distributed exactly as ``N(m, s²)`` restricted to quantiles ``(C, 1)`` (``σ = +1``) or
``(0, 1 − C)`` (``σ = −1``): a shift along the coordinate that stays on the prior's density.

``m`` and ``s`` are not detached (gradients flow through them, as in the released code). The
computation runs in float64 and returns the input dtype, so extreme values never produce inf/NaN:
points whose shifted quantile would leave ``(0, 1)`` are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UserError

_MIN_STD = 1e-12


@dataclass(frozen=True)
class ShiftResult:
    """``shifted[k]`` is the new value of the point ``keep.nonzero()[k]`` (``keep``: ``[N]`` bool)."""

    shifted: torch.Tensor  # [K]
    keep: torch.Tensor  # [N] bool


def quantile_shift(values: torch.Tensor, shift: float, sign: int) -> ShiftResult:
    """Shift ``values`` (``[N]``, ``N ≥ 2``) by ``sign · shift`` in the quantile space of
    ``N(mean, std²)`` of the batch; see the module docstring. Differentiable."""
    if values.ndim != 1 or values.shape[0] < 2:
        raise UserError(f"quantile_shift: expected a vector of at least 2 values, got shape {tuple(values.shape)}")
    if not 0.0 < shift < 1.0:
        raise UserError(f"quantile_shift: shift must be in (0, 1), got {shift}")
    if sign not in (-1, 1):
        raise UserError(f"quantile_shift: sign must be +1 or -1, got {sign}")
    if not torch.isfinite(values).all():
        raise UserError("quantile_shift: the values contain NaN or inf")
    # Work on v / c with the constant c = max |v|: the same values (c cancels), no overflow in std.
    v = values.to(torch.float64)
    scale = v.detach().abs().max().clamp_min(torch.finfo(torch.float64).tiny)
    v = v / scale
    mean = v.mean()
    std = v.std().clamp_min(_MIN_STD)
    target = torch.special.ndtr((v - mean) / std) + sign * shift
    keep = (target > 0.0) & (target < 1.0)
    shifted = (mean + std * torch.special.ndtri(target[keep])) * scale
    if values.dtype.is_floating_point:  # stay finite when cast back (values near the dtype's limits)
        limit = torch.finfo(values.dtype).max
        shifted = shifted.clamp(-limit, limit)
    return ShiftResult(shifted=shifted.to(values.dtype), keep=keep)


@dataclass(frozen=True)
class LatentShift:
    """Codes before/after shifting one coordinate: ``kept = z[keep]`` and ``shifted`` (``[K, D]``)."""

    kept: torch.Tensor  # [K, D]
    shifted: torch.Tensor  # [K, D]
    keep: torch.Tensor  # [N] bool


def shift_latents(z: torch.Tensor, dim: int, shift: float, sign: int) -> LatentShift:
    """Apply :func:`quantile_shift` to coordinate ``dim`` of codes ``z`` ``[N, D]``.

    ``shifted`` equals ``kept`` except in coordinate ``dim``. Differentiable in ``z``.
    """
    if z.ndim != 2:
        raise UserError(f"shift_latents: expected codes [N, D], got shape {tuple(z.shape)}")
    if not 0 <= dim < z.shape[1]:
        raise UserError(f"shift_latents: coordinate {dim} out of range for {z.shape[1]} latent dimensions")
    result = quantile_shift(z[:, dim], shift, sign)
    kept = z[result.keep]
    column = torch.arange(z.shape[1], device=z.device) == dim
    shifted = torch.where(column, result.shifted[:, None], kept)
    return LatentShift(kept=kept, shifted=shifted, keep=result.keep)
