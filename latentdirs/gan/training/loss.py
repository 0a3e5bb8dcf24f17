"""StyleGAN2 training objectives (Karras et al., CVPR 2020, arXiv 1912.04958; as used in StyleGAN2-ADA).

With ``D`` returning logits and ``softplus(t) = log(1 + eᵗ)``:

* generator, non-saturating logistic loss: ``L_G = E_z softplus(−D(G(z)))``;
* discriminator, logistic loss: ``L_D = E_z softplus(D(G(z))) + E_x softplus(−D(x))``;
* R1 penalty on reals (Mescheder et al., ICML 2018): ``L_R1 = γ/2 · E_x ‖∇ₓ D(x)‖²``;
* path-length regularization: with ``y ~ N(0, I)/√(H·W)`` and ``J = ∂G(w)/∂w``,
  ``L_pl = w_pl · E (‖Jᵀy‖ − a)²`` where ``‖Jᵀy‖²`` is summed over W-dims and averaged over the
  ``num_ws`` layers, and ``a`` is the running mean of the lengths (decay 0.01);
* style mixing: with probability p, the ws from a second z replace the ws from a random cutoff
  ``k ∈ [1, num_ws)`` onwards.

Lazy regularization (the regularizer evaluated every ``interval`` steps with its loss multiplied by
``interval``) is handled by the training loop through the ``gain`` argument.

Under torchrun the per-sample draws take a :class:`~latentdirs.distributed.RowDraws` in place of the
``torch.Generator`` (this process's rows of the global batch's draws) and the path-length mean a ``mean`` over
all processes, so a sharded batch draws and averages what one process would.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F

from ...distributed import RowDraws


def normal(shape: list[int] | torch.Size, source: torch.Generator | RowDraws, device: torch.device) -> torch.Tensor:
    """Standard normal draws of ``shape``: from a ``torch.Generator``, or this process's rows of a global draw."""
    if isinstance(source, RowDraws):
        return source.randn(shape).to(device)
    return torch.randn(shape, generator=source, device=device)


def map_latents(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor | None, update_w_avg: bool = True) -> torch.Tensor:
    """``G.mapping(z, c)`` → ws ``[N, num_ws, w_dim]``; ``update_w_avg=False`` leaves the ``w_avg`` buffer alone."""
    return G.mapping(z, c, skip_w_avg_update=not update_w_avg)


def run_generator(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor | None, style_mixing_prob: float,
                  generator: torch.Generator | RowDraws) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and ws for latents ``z``, with style mixing as in StyleGAN2 and random noise inputs.

    All randomness (mixing cutoff, second latents, noise images) comes from ``generator`` (a
    :class:`RowDraws`: the batch-wide cutoff from its generator, per-sample draws as its rows).
    """
    ws = map_latents(G, z, c)
    if style_mixing_prob > 0:
        num_ws = ws.shape[1]
        scalars = generator.generator if isinstance(generator, RowDraws) else generator
        cutoff = int(torch.randint(1, num_ws, [], generator=scalars, device=scalars.device)) if num_ws > 1 else 1
        mix = float(torch.rand([], generator=scalars, device=scalars.device)) < style_mixing_prob
        z2 = normal(z.shape, generator, z.device)
        if mix and cutoff < num_ws:
            ws2 = map_latents(G, z2, c, update_w_avg=False)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
    return G.synthesis(ws, noise_mode="random", noise_generator=generator), ws


def generator_loss(D: torch.nn.Module, fake: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-saturating loss ``mean softplus(−D(fake))`` and the fake logits."""
    logits = D(fake, c)
    return F.softplus(-logits).mean(), logits


def discriminator_loss(D: torch.nn.Module, fake: torch.Tensor, real: torch.Tensor, c_fake: torch.Tensor | None,
                       c_real: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logistic loss ``mean softplus(D(fake)) + mean softplus(−D(real))`` and both logits."""
    fake_logits = D(fake.detach(), c_fake)
    real_logits = D(real, c_real)
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean(), fake_logits, real_logits


def r1_penalty(D: torch.nn.Module, real: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """Per-sample ``‖∇ₓ D(x)‖²`` ``[N]`` (differentiable, for the regularization step)."""
    real = real.detach().requires_grad_(True)
    logits = D(real, c)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3])


def path_length_penalty(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor | None, pl_mean: torch.Tensor,
                        style_mixing_prob: float, generator: torch.Generator | RowDraws, decay: float = 0.01,
                        mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(‖Jᵀy‖ − a)²`` ``[N]`` and the updated running mean ``a`` (returned detached).

    As in StyleGAN2-ADA's ``StyleGAN2Loss``, the penalty uses the updated mean
    ``a = lerp(a_old, mean ‖Jᵀy‖, decay)`` without detaching it, so the gradient also flows through this
    batch's share of the mean (a 0.6 % difference in G's gradient against a detached mean). ``mean`` turns this
    batch's mean length into the global batch's (under torchrun: the mean over processes, differentiable)."""
    images, ws = run_generator(G, z, c, style_mixing_prob, generator)
    noise = normal(images.shape, generator, images.device)
    noise = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
    batch_mean = lengths.mean() if mean is None else mean(lengths.mean())
    new_mean = pl_mean.lerp(batch_mean, decay)
    return (lengths - new_mean).square(), new_mean.detach()
