"""TopDis: topological disentanglement regularizer for VAEs.

Balabin, Voronkova, Trofimov, Burnaev & Barannikov, "Disentanglement Learning via Topology",
ICML 2024 (arXiv 2308.12696), and its released code. A change of one latent coordinate of a
disentangled model moves the images along one factor, which leaves the topology of the image
cloud unchanged. For latent codes ``z`` ``[N, D]`` (reparameterized samples):

1. pick a coordinate ``i`` uniformly, or with ``P(i) ∝ ‖W[:, i]‖`` (``W``: the decoder's first
   layer ``fc_in``, latent → 256; the released scripts use this ``decoder_norm`` sampler);
2. shift it by ``C`` in the quantile space of the batch (``m``, ``s``: batch mean and std of
   ``z_i``, not detached): ``z'_i = m + s·Φ⁻¹(Φ((z_i − m)/s) ± C)``, sign at random, dropping the
   points that would leave ``(0, 1)`` (:func:`latentdirs.topology.quantile_shift`);
3. decode both batches to pictures (the sigmoid of the logits, which is both the Bernoulli decoder's
   probabilities and the Gaussian decoder's means, as in the released code), flatten, and compare
   them with the symmetric min/max RTD (:func:`latentdirs.topology.rtd`, ``card`` longest bars,
   each cloud divided by its ``quantile``):

    L_TopDis = RTD_sym(dec(z_kept), dec(z'_kept)),        total = objective + γ · L_TopDis

The term is 0 for the first ``delay`` steps: by default the first 10 % of the run, as the released
scripts (``--delay_iter 1e5`` with ``--max_iter 1e6``: FactorVAE_TopDis/run_mpi3d_complex.sh,
ControlVAE_TopDis/run_dsprites_pid_c18_L_rtd5.sh; BetaTCVAE_TopDis/run_dsprites_rtd5.sh: 1e5 of 100 epochs,
1.15e6 iterations). With ``orthogonalize=true`` the weighted value is returned as ``loss_orthogonal``: the
trainer removes the component of its gradient that opposes the reconstruction gradient (the released
β-VAE/FactorVAE solver's option, used by the MPI3D script; off in the dSprites scripts, and here by default).

The RTD read-out is by default the released code's (``variant=official``, :mod:`latentdirs.topology.rtd`),
on which the paper's γ (5 on dSprites, 6 on MPI3D in the scripts) was tuned; ``variant=exact`` reads the
bars from the R-cross matrices themselves and is lower (``scripts/compare_rtd_readouts.py``): by 2.7 % (bundled
TopDis VAE) and 3.8 % (fresh VAE) on average on the clouds this term compares, dSprites batches of 64 (53–59
kept points, 4096 pixels; up to 9 % on single batches), and by 12 % on random clouds of 56 points in 300
dimensions (y = x + 0.5·noise; 22 % for independent clouds) — so γ does not transfer to it.

Which codes: ``batch=same`` reuses the training batch's sampled codes and decoded logits, as the
released BetaTCVAE/ControlVAE/DAVA solvers use the training batch (they encode it again and draw new noise:
the same distribution, so the expected gradient is the same; here one encoder and decoder pass fewer);
``batch=second`` encodes a second independent batch, as the released BetaVAE/FactorVAE solvers
(``compute_reg(self.VAE, x_true2)``). As there: the images compared are ``sigmoid(logits)`` flattened,
each cloud's distances divided by their 0.9-quantile (``--q_normalize``), ``card=50`` longest bars, p = 1,
H1, both directions; the shift C = 1/8 with a random sign; batch mean and std not detached.
Logged: ``rtd`` (unweighted, 0 while off) and ``kept`` (fraction of the batch that was compared).
"""

from __future__ import annotations

import torch

from ..errors import UserError
from ..topology import rtd, shift_latents
from ..topology.rtd import VARIANTS
from .registry import REGULARIZER, LossContext, LossTerm, Param, register
from .schedules import schedule_steps

SAMPLERS = ("uniform", "decoder_norm")
BATCHES = ("same", "second")


def _pictures(logits: torch.Tensor) -> torch.Tensor:
    """``sigmoid(logits)`` flattened: the decoded images for either reconstruction loss."""
    return torch.sigmoid(logits).flatten(1)


@register
class TopDis(LossTerm):
    """TopDis: γ · symmetric RTD between decoded batches before/after a quantile shift of one latent."""

    name = "topdis"
    role = REGULARIZER
    domains = frozenset({"vae"})
    needs = frozenset({"z", "x_logits", "decode", "model", "generator", "step", "total_steps"})
    params = {
        "gamma": Param(5.0, "weight γ of the RTD term", minimum=0),
        "delay": Param("10%", "steps before the term is switched on, or a share of the run's steps: 10% or 1/10 "
                       "(released scripts: 1e5 of 1e6)"),
        "shift": Param(0.125, "C: shift in the quantile space of the batch, in (0, 0.5)"),
        "sampler": Param("decoder_norm", "how the latent coordinate is picked", SAMPLERS),
        "card": Param(50, "longest bars kept per persistence computation", minimum=1),
        "p": Param(1.0, "exponent of the bar lengths", above=0),
        "variant": Param("official", "RTD read-out: official (the released code's, the paper's γ) or exact",
                         VARIANTS),
        "quantile": Param(0.9, "each cloud's distances are divided by this quantile; 0: no normalization"),
        "orthogonalize": Param(False, "return the term as loss_orthogonal (gradient orthogonalization)"),
        "batch": Param("same", "codes of the training batch, or of a second independent batch", BATCHES),
    }

    def __init__(self, **hparams) -> None:
        super().__init__(**hparams)
        hp = self.hp
        if not 0.0 < hp["shift"] < 0.5:
            raise UserError(f"topdis: shift={hp['shift']} must be in (0, 0.5)")
        if not 0.0 <= hp["quantile"] <= 1.0:
            raise UserError(f"topdis: quantile={hp['quantile']} must be in (0, 1], or 0 for no normalization")
        schedule_steps(hp["delay"], 0, self.name, "delay")  # a bad value fails when the term is built
        if hp["batch"] == "second":
            self.needs = type(self).needs - {"x_logits"} | {"next_batch", "encode"}

    def _coordinate(self, ctx: LossContext, latent_dim: int) -> int:
        generator = ctx.generator
        if self.hp["sampler"] == "uniform":
            return int(torch.randint(latent_dim, (1,), generator=generator, device=generator.device).item())
        layer = getattr(getattr(ctx.model, "decoder", None), "fc_in", None)
        if not isinstance(layer, torch.nn.Linear) or layer.weight.shape[1] != latent_dim:
            raise UserError("topdis: sampler=decoder_norm needs model.decoder.fc_in (Linear latent → hidden); "
                            "use sampler=uniform for this model")
        weights = layer.weight.detach().norm(dim=0).to(generator.device, torch.float64)
        if not torch.isfinite(weights).all() or weights.sum() <= 0:
            weights = torch.ones_like(weights)
        return int(torch.multinomial(weights, 1, generator=generator).item())

    def _codes(self, ctx: LossContext) -> torch.Tensor:
        if self.hp["batch"] == "same":
            return ctx.z
        mu, logvar = ctx.encode(ctx.next_batch())
        noise = torch.randn(mu.shape, generator=ctx.generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * noise

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        hp = self.hp
        zero = ctx.z.new_zeros(())
        off = {"loss": zero, "rtd": zero, "kept": zero}
        if hp["orthogonalize"]:
            off["loss_orthogonal"] = zero
        if hp["gamma"] == 0 or ctx.step < schedule_steps(hp["delay"], getattr(ctx, "total_steps", None), self.name,
                                                          "delay"):
            return off
        z = self._codes(ctx)
        dim = self._coordinate(ctx, z.shape[1])
        generator = ctx.generator
        sign = 1 if torch.randint(2, (1,), generator=generator, device=generator.device).item() else -1
        moved = shift_latents(z, dim, hp["shift"], sign)
        kept = int(moved.keep.sum())
        if kept < 2:
            return off
        if hp["batch"] == "same":
            before = _pictures(ctx.x_logits[moved.keep])
            after = _pictures(ctx.decode(moved.shifted))
        else:
            before, after = _pictures(ctx.decode(torch.cat([moved.kept, moved.shifted]))).chunk(2)
        value = rtd(before, after, card=hp["card"], p=hp["p"], variant=hp["variant"],
                    quantile=hp["quantile"] or None, mode="symmetric", filtration="minmax")
        weighted = hp["gamma"] * value
        out = {"loss": zero, "rtd": value.detach(), "kept": zero + kept / z.shape[0]}
        if hp["orthogonalize"]:
            out["loss_orthogonal"] = weighted
        else:
            out["loss"] = weighted
        return out
