"""Generator exponential moving average, with the half-life schedule of StyleGAN2-ADA.

After each step of ``batch_size`` images, with ``n_ema = ema_kimg · 1000`` capped during ramp-up at
``cur_nimg · ema_rampup``: ``β = 0.5^(batch_size / n_ema)`` and ``θ_ema ← θ + β (θ_ema − θ)`` (half-life
``n_ema`` images). Buffers (``w_avg``, ``noise_const``, filters) are copied.
"""

from __future__ import annotations

import torch


def ema_beta(cur_nimg: int, batch_size: int, ema_kimg: float, ema_rampup: float | None) -> float:
    """The decay ``β`` for the step that ends at ``cur_nimg`` images seen before it."""
    ema_nimg = ema_kimg * 1000.0
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """``θ_ema ← lerp(θ, θ_ema, β)`` for parameters; copy buffers."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
