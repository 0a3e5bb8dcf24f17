r"""Decoder-smoothness regularizers: ``jacobian_l1`` (Rhodes & Lee 2021) and ``hessian_penalty`` (Peebles et al. 2020).

Jacobian L1 (Rhodes & Lee, "Local Disentanglement in Variational Auto-Encoders Using Jacobian L1
Regularization", NeurIPS 2021, arXiv 2106.02923), for the picture ``g(z) = sigmoid(decode(z))``:

    JL1 = (1/B) Σ_b Σ_i Σ_pixels |∂g(z_b)/∂z_i|

computed by default as the paper's code ``travers-rhodes/jlonevae`` does (``jlonevae_lib/architecture/
vae_jacobian.py``, ``compute_generator_jacobian_optimized`` and ``jacobian_loss_function``): forward differences
``(g(z + h e_i) − g(z))/h`` with h = 1e-3 for every latent i (one decoder call on ``(d + 1)·B`` inputs), at the
*sampled* codes z (the trainer's ``noisy_mu``, ``jlonevae_trainer.py``) detached, so that only the decoder learns
from it, summed over latents and pixels and divided by the batch size. γ ramps linearly from 0 at the first step
(``γ · num_batches_seen / annealingBatches``); the released runs ramp over the first third of training (threeDots
and MPI3D: 100000 of 300000 batches, β = 4 and γ = 0.1 on threeDots, β ramping the same way — here
``beta-vae:ramp_steps``), so ``ramp_steps`` defaults to ``1/3`` of the run's steps.

``method=exact`` is the Jacobian itself: forward-mode JVPs ``torch.func.jvp`` vmapped over the latent basis (no
double backward). Its *value* is nearly the finite differences' (both 6.34, mean of 8 batches of 64 codes on fresh
dlib decoders), but with a ReLU decoder its *gradient* is a different training signal: finite differences see the
ReLU kinks that fall between z and z + h move with the weights, autograd of the exact Jacobian, taken inside the
ReLUs' current linear region, does not. On the disentanglement_lib decoder at initialisation (float64, 8 batches of
64 codes z ~ N(0, I), gradients summed; ``scripts/compare_jl1_gradients.py``) the two gradients have cosine 0.08
and the exact one has 1/15 of the finite-difference norm (52 vs 797, h = 1e-3); at h = 1e-4 the cosine is 0.07
(0.03 on single batches); with Softplus instead of ReLU the cosine is 1.000. ``subset=k`` uses k random columns per
step and scales by d/k — an unbiased estimate of the full sum at k/d of the cost (the paper uses all columns).

Finite differences and JVPs both assume the decoder is a fixed function of z: with BatchNorm in training
mode (statistics of the enlarged batch) or bf16 arithmetic (h = 1e-3 is below bf16's resolution) the
penalty is wrong, so the term warns once in those cases.

Hessian penalty (Peebles, Peebles, Zhu, Efros, Torralba, "The Hessian Penalty: A Weak Prior for
Unsupervised Disentanglement", ECCV 2020, Eq. 5): with k Rademacher directions v and h = 0.1,

    HP = max over (batch, pixels) of Var_v[(g(z + h v) − 2 g(z) + g(z − h v)) / h²]   (unbiased variance)

an estimate of the off-diagonal Hessian entries' magnitude; ``reduction=mean`` averages instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.func import jvp, vmap

from ..errors import LatentdirsWarning, UserError
from .registry import LossContext, LossTerm, Param, register
from .schedules import ramp_weight, schedule_steps

Decoder = Callable[[Tensor], Tensor]

#: decoder rows per call on the CPU: oneDNN's convolutions get slower per row on big batches (the dlib
#: decoder, fwd+bwd, one thread: 704 rows 1830 ms vs 11 × 90 ms for 64), so the k·B tangent rows (or
#: (k+1)·B for finite differences, (2k+1)·B for the Hessian penalty) are decoded in chunks of samples;
#: exact JL1 at B=64, k=10: 1806 → 1352 ms
CPU_ROWS_PER_CALL = 80


def jacobian_columns_exact(fn: Decoder, z: Tensor, columns: Tensor) -> Tensor:
    """``∂fn(z)/∂z_i`` for ``i in columns``: ``[k, B, *out]``, by forward-mode JVPs vmapped over the basis."""
    basis = torch.zeros(len(columns), z.shape[1], dtype=z.dtype, device=z.device)
    basis[torch.arange(len(columns), device=z.device), columns] = 1.0
    tangents = basis[:, None, :].expand(-1, z.shape[0], -1)
    with warnings.catch_warnings():  # torch's own jvp decompositions still call the deprecated torch.jit.script
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=FutureWarning)
        return vmap(lambda tangent: jvp(fn, (z,), (tangent,))[1])(tangents)


def jacobian_columns_finite_difference(fn: Decoder, z: Tensor, columns: Tensor, step: float = 1e-3) -> Tensor:
    """Forward differences ``(fn(z + h e_i) − fn(z)) / h``: ``[k, B, *out]``, one call on ``(k + 1)·B`` inputs."""
    k, batch = len(columns), z.shape[0]
    shifted = z.unsqueeze(0).repeat(k + 1, 1, 1)
    shifted[torch.arange(k, device=z.device), :, columns] += step
    out = fn(shifted.reshape((k + 1) * batch, -1))
    out = out.reshape(k + 1, batch, *out.shape[1:])
    return (out[:k] - out[k:]) / step


def jacobian_l1(
    fn: Decoder, z: Tensor, method: str = "finite_difference", subset: int = 0,
    generator: torch.Generator | None = None, step: float = 1e-3,
) -> Tensor:
    """``(1/B) Σ |∂fn(z)/∂z|`` over latents and outputs (``subset=k``: k random latents, scaled by d/k); ``method``
    finite_difference (the paper's forward differences, step ``step``) or exact (JVPs)."""
    dims = z.shape[1]
    _check_subset(subset, dims)
    if subset and subset < dims:
        columns = torch.randperm(dims, generator=generator, device=z.device)[:subset]
    else:
        columns = torch.arange(dims, device=z.device)
    if method not in ("exact", "finite_difference"):
        raise UserError(f"jacobian_l1: unknown method {method!r}; expected exact or finite_difference")
    exact = method == "exact"
    rows_per_sample = len(columns) + (0 if exact else 1)
    total = z.new_zeros(())
    for part in z.split(_samples_per_call(z, rows_per_sample)):
        if exact:
            jac = jacobian_columns_exact(fn, part, columns)
        else:
            jac = jacobian_columns_finite_difference(fn, part, columns, step)
        total = total + jac.abs().sum()
    return total / z.shape[0] * (dims / len(columns))


def _check_subset(subset: int, dims: int) -> None:
    if subset and not 0 < subset <= dims:
        raise UserError(f"jacobian_l1: subset must be between 1 and the latent size {dims}, got {subset}")


def hessian_penalty(
    fn: Decoder, z: Tensor, k: int = 2, step: float = 0.1, reduction: str = "max",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Peebles et al. (2020), Eq. 5: reduce over outputs of Var_v of central second differences along v."""
    if k < 2:
        raise UserError(f"hessian_penalty: k must be at least 2 (a variance), got {k}")
    signs = torch.randint(0, 2, (k, *z.shape), generator=generator, device=z.device).to(z.dtype) * 2 - 1
    chunk = _samples_per_call(z, 2 * k + 1)
    variances = []
    for part, directions in zip(z.split(chunk), (step * signs).split(chunk, dim=1), strict=True):
        batch = part.shape[0]
        inputs = torch.cat([part.unsqueeze(0), part + directions, part - directions]).reshape((2 * k + 1) * batch, -1)
        out = fn(inputs)
        out = out.reshape(2 * k + 1, batch, *out.shape[1:])
        second = (out[1 : k + 1] - 2 * out[:1] + out[k + 1 :]) / step**2
        variances.append(second.var(dim=0, unbiased=True))
    variance = torch.cat(variances)
    return variance.max() if reduction == "max" else variance.mean()


def _samples_per_call(z: Tensor, rows_per_sample: int) -> int:
    """Samples of ``z`` per decoder call: all of them on an accelerator, about ``CPU_ROWS_PER_CALL`` rows on the CPU."""
    return max(1, CPU_ROWS_PER_CALL // rows_per_sample) if z.device.type == "cpu" else z.shape[0]


class _DecoderPenalty(LossTerm):
    """Shared parts: γ ramp, the picture ``sigmoid(decode(z.detach()))``, the one-time warnings."""

    domains = frozenset({"vae"})
    needs = frozenset({"z", "decode", "step", "total_steps"})

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self._warned = False
        for key in ("delay", "ramp_steps"):
            schedule_steps(self.hp[key], 0, self.name, key)  # a bad value fails when the term is built

    def warn_if_unreliable(self, ctx: LossContext, what: str) -> None:
        if self._warned:
            return
        model = getattr(ctx, "model", None)
        decoder = getattr(model, "decoder", None) if model is not None else None
        modules = decoder.modules() if isinstance(decoder, torch.nn.Module) else ()
        reasons = []
        if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training for m in modules):
            reasons.append("the decoder has BatchNorm in training mode (batch statistics of shifted copies)")
        autocast_bf16 = torch.is_autocast_enabled(ctx.z.device.type) and (
            torch.get_autocast_dtype(ctx.z.device.type) == torch.bfloat16
        )
        if ctx.z.dtype == torch.bfloat16 or autocast_bf16:
            reasons.append("bf16 arithmetic cannot resolve the small input steps")
        if reasons:
            self._warned = True
            warnings.warn(f"{self.name}: {what} is unreliable: " + "; ".join(reasons), LatentdirsWarning, stacklevel=3)

    def picture(self, ctx: LossContext) -> Decoder:
        return lambda codes: torch.sigmoid(ctx.decode(codes))

    def weight(self, ctx: LossContext) -> float:
        total = getattr(ctx, "total_steps", None)
        delay, ramp = (schedule_steps(self.hp[key], total, self.name, key) for key in ("delay", "ramp_steps"))
        return ramp_weight(self.hp["gamma"], int(ctx.step), delay, ramp)


_STEPS = "steps, or a share of the run's steps: 10% or 1/3"
_RAMP = {
    "delay": Param("0", f"steps before the term is switched on ({_STEPS})"),
    "ramp_steps": Param("0", f"steps over which γ ramps linearly from 0 after the delay ({_STEPS})"),
}


@register
class JacobianL1(_DecoderPenalty):
    """Jacobian L1: γ · (1/B) Σ_b Σ_i Σ_pixels |∂ sigmoid(decode(z_b)) / ∂z_i|, z detached.

    Rhodes & Lee, "Local Disentanglement in Variational Auto-Encoders Using Jacobian L1 Regularization",
    NeurIPS 2021 (arXiv 2106.02923). Defaults as the paper's code: forward differences with step 1e-3 at the
    sampled codes, all latents, γ ramped over the first third of the run; method=exact: the exact Jacobian
    (vmapped forward-mode JVPs), same value, a different gradient with ReLU decoders (module docstring);
    subset=k: k random latents per step, scaled by d/k.
    """

    name = "jacobian_l1"
    params = {
        "gamma": Param(0.1, "weight γ (paper, threeDots: 0.1)", minimum=0),
        **_RAMP,
        "ramp_steps": Param("1/3", f"steps over which γ ramps linearly from 0 after the delay ({_STEPS}; "
                                   "paper: 100000 of 300000)"),
        "method": Param("finite_difference", "finite_difference (the paper's) or exact (JVPs; another gradient "
                        "with ReLU decoders)", ("finite_difference", "exact")),
        "fd_step": Param(1e-3, "finite-difference step h", above=0),
        "subset": Param(0, "random latents per step (0: all); unbiased, scaled by d/k", minimum=0),
    }

    def check_model(self, latent_dim: int) -> None:
        _check_subset(self.hp["subset"], latent_dim)

    def forward(self, ctx: LossContext) -> dict[str, Tensor]:
        gamma = self.weight(ctx)
        if gamma == 0.0:
            return {"loss": ctx.z.new_zeros(()), "gamma": torch.tensor(0.0)}
        if self.hp["method"] == "finite_difference":
            self.warn_if_unreliable(ctx, "the finite-difference Jacobian")
        else:
            self.warn_if_unreliable(ctx, "the Jacobian")
        value = jacobian_l1(
            self.picture(ctx), ctx.z.detach(), self.hp["method"], self.hp["subset"],
            getattr(ctx, "generator", None), self.hp["fd_step"],
        )
        return {"loss": gamma * value, "jacobian_l1": value.detach(), "gamma": torch.tensor(gamma)}


@register
class HessianPenalty(_DecoderPenalty):
    """Hessian penalty: γ · max Var_v[(g(z+hv) − 2g(z) + g(z−hv))/h²], g = sigmoid(decode(·)), z detached.

    Peebles et al., "The Hessian Penalty: A Weak Prior for Unsupervised Disentanglement", ECCV 2020, Eq. 5
    (k Rademacher directions, h = 0.1, unbiased variance, max over batch and pixels).
    """

    name = "hessian_penalty"
    params = {
        "gamma": Param(1.0, "weight γ", minimum=0),
        **_RAMP,
        "k": Param(2, "Rademacher directions per step (≥ 2)", minimum=2),
        "step": Param(0.1, "finite-difference step h", above=0),
        "reduction": Param("max", "reduction over batch and pixels", ("max", "mean")),
    }

    def forward(self, ctx: LossContext) -> dict[str, Tensor]:
        gamma = self.weight(ctx)
        if gamma == 0.0:
            return {"loss": ctx.z.new_zeros(()), "gamma": torch.tensor(0.0)}
        self.warn_if_unreliable(ctx, "the Hessian penalty")
        value = hessian_penalty(
            self.picture(ctx), ctx.z.detach(), self.hp["k"], self.hp["step"], self.hp["reduction"],
            getattr(ctx, "generator", None),
        )
        return {"loss": gamma * value, "hessian_penalty": value.detach(), "gamma": torch.tensor(gamma)}
