"""Gradient orthogonalization of a loss against the reconstruction loss (the ``loss_orthogonal`` key).

TopDis (Balabin, Voronkova et al., ICML 2024, "gradient orthogonalization"): with g_r = ∇_θ recon and g_t = ∇_θ L_t,
when ⟨g_t, g_r⟩ < 0 the term would increase the reconstruction loss, so its component along g_r
is removed:

    g_t ← g_t − (⟨g_t, g_r⟩ / ‖g_r‖²) g_r      if ⟨g_t, g_r⟩ < 0,   g_t unchanged otherwise,

where the inner product runs over all parameters θ together (one flattened vector). Under torchrun both
gradients are first averaged over the ranks (``average``), so the projection is the one of the global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if not loss.requires_grad:
        return [torch.zeros_like(p) for p in params]
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def project_nonconflicting(grads: Sequence[torch.Tensor], reference: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``grads`` minus their projection on ``reference`` when the two point against each other."""
    dot = sum((g * r).sum() for g, r in zip(grads, reference, strict=True))
    norm2 = sum(r.pow(2).sum() for r in reference)
    coefficient = torch.where(dot < 0, dot / torch.clamp(norm2, min=torch.finfo(norm2.dtype).tiny), 0.0)
    return [g - coefficient * r for g, r in zip(grads, reference, strict=True)]


def orthogonalized_gradients(
    loss: torch.Tensor, recon: torch.Tensor, params: Sequence[torch.Tensor],
    average: Callable[[list[torch.Tensor]], None] | None = None,
) -> list[torch.Tensor]:
    """∇_θ ``loss`` with any component opposing ∇_θ ``recon`` removed (graphs are retained). ``average``
    (e.g. :meth:`latentdirs.distributed.World.average_`) turns each rank's gradients into their mean, in place."""
    grads, reference = _grads(loss, params), _grads(recon, params)
    if average is not None:
        average(grads + reference)
    return project_nonconflicting(grads, reference)
