"""Intra-domain cost matrices for Gromov-Wasserstein problems, dense and low-rank.

A cost turns a point cloud ``x`` of shape ``[..., n, d]`` into a :class:`CostMatrix`: the dense
``[..., n, n]`` matrix (differentiable in ``x``) and, when the cost has one, an exact low-rank
factorization ``C = A Bᵀ`` with ``A, B`` of shape ``[..., n, r]``. The solver multiplies through the factors,
``O(n·r)`` per column instead of ``O(n²)`` (Scetbon, Peyré, Cuturi, "Linear-time
Gromov-Wasserstein distances using low rank couplings and costs", ICML 2022).

Costs (``x̄`` is the batch mean, ``u = x/‖x‖``):

- ``sqeuclidean``:         c(x, y) = ‖x − y‖²,  rank d + 2 (computed on centred points);
- ``scaled_sqeuclidean``:  c(x, y) = ‖x − y‖² / mean_ij ‖x_i − x_j‖²  (a global scale of ``x`` is free);
- ``cosine``:              c(x, y) = 1 − ⟨x, y⟩ / (‖x‖ ‖y‖),  rank d + 2 (angles are preserved when this is).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UserError

COST_NAMES = ("sqeuclidean", "scaled_sqeuclidean", "cosine")


@dataclass(frozen=True)
class CostMatrix:
    """A batch of square cost matrices ``dense [P, n, n]`` with optional factors ``C = left @ rightᵀ``."""

    dense: Tensor
    left: Tensor | None = None
    right: Tensor | None = None

    @property
    def rank(self) -> int | None:
        return None if self.left is None else self.left.shape[-1]

    def detach(self) -> CostMatrix:
        return CostMatrix(
            self.dense.detach(),
            None if self.left is None else self.left.detach(),
            None if self.right is None else self.right.detach(),
        )

    def low_rank_pays(self) -> bool:
        """Whether applying the factors is cheaper than the dense matrix (rank below half the size)."""
        return self.left is not None and 2 * self.left.shape[-1] < self.dense.shape[-1]


def _check_points(x: Tensor, what: str) -> None:
    if not isinstance(x, Tensor) or x.dim() < 2 or not x.is_floating_point():
        raise UserError(f"{what}: expected a float tensor of points [n, d] or [P, n, d], got {_describe(x)}")


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def sqeuclidean(x: Tensor) -> CostMatrix:
    """Squared Euclidean cost ``‖x_i − x_j‖²`` with factors ``[s, 1, −2x] [1, s, x]ᵀ`` (``s = ‖x‖²``)."""
    _check_points(x, "sqeuclidean cost")
    x = x - x.mean(dim=-2, keepdim=True)  # translation invariant; centring limits cancellation
    sq = (x * x).sum(dim=-1, keepdim=True)
    ones = torch.ones_like(sq)
    left = torch.cat([sq, ones, -2.0 * x], dim=-1)
    right = torch.cat([ones, sq, x], dim=-1)
    dense = (sq + sq.transpose(-1, -2) - 2.0 * (x @ x.transpose(-1, -2))).clamp_min(0.0)
    return CostMatrix(dense, left, right)


def scaled_sqeuclidean(x: Tensor) -> CostMatrix:
    """Squared Euclidean cost divided by its mean over all pairs, ``2·mean_i ‖x_i − x̄‖²``."""
    base = sqeuclidean(x)
    centred = x - x.mean(dim=-2, keepdim=True)
    scale = 2.0 * (centred * centred).sum(dim=-1).mean(dim=-1)  # = mean_ij ‖x_i − x_j‖²
    scale = scale.clamp_min(torch.finfo(x.dtype).tiny)[..., None, None]
    return CostMatrix(base.dense / scale, base.left / scale, base.right)


def cosine(x: Tensor) -> CostMatrix:
    """Cosine cost ``1 − ⟨u_i, u_j⟩ = ½‖u_i − u_j‖²`` with ``u = x/‖x‖``, evaluated as half the (centred)
    squared Euclidean cost of ``u`` so that nearly parallel points keep their precision in float32."""
    _check_points(x, "cosine cost")
    u = x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).eps)
    half = sqeuclidean(u)
    return CostMatrix(0.5 * half.dense, 0.5 * half.left, half.right)


_COSTS = {"sqeuclidean": sqeuclidean, "scaled_sqeuclidean": scaled_sqeuclidean, "cosine": cosine}


def cost_matrix(x: Tensor, cost: str) -> CostMatrix:
    """The :class:`CostMatrix` of points ``x [n, d]`` or ``[P, n, d]`` (always returned batched)."""
    if cost not in _COSTS:
        raise UserError(f"unknown cost {cost!r}; expected one of {', '.join(COST_NAMES)}")
    _check_points(x, f"{cost} cost")
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3:
        raise UserError(f"{cost} cost: expected points [n, d] or [P, n, d], got shape {tuple(x.shape)}")
    return _COSTS[cost](x)
