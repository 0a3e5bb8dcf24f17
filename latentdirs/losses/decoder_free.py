r"""Decoder-free GMG: an encoder trained by prior matching and the Gromov-Monge gap alone (no decoder).

    loss = β · KL(q(z|x) ‖ N(0, I)) + λ · GMG_ε(x ↦ z),    z = μ(x) + σ(x) ⊙ ε  (the sampled code)

the β-VAE objective with its reconstruction term removed, plus the GMG (:mod:`.gmg`, kernels in
:mod:`latentdirs.ot.gmg`) of the stochastic encoder map from the flattened images to their sampled codes,
cosine costs on both sides. Uscidda, Eyring, Roth, Theis, Akata, Cuturi, "Disentangled Representation
Learning with the Gromov-Monge Gap", ICLR 2025 (arXiv 2407.07829): geometry preservation as the only
counterweight to prior matching, "making the underlying model decoder-free" (abstract of v1). Same dlib
encoder as every VAE here; its representation is the mean μ(x), as in disentanglement_lib.

Why these choices (``latentdirs --threads 1 train-vae --no-decoder …``, dSprites, 800 steps at lr 1e-3 unless
said; "active": mean KL to the prior > 0.1 nats over 256 images; MIG of μ on 4000 images, 20 bins):

- The GMG must see the *sampled* code. On μ, a scale-free cost (cosine, scaled squared Euclidean) leaves the
  scale of μ free, and any prior-matching term then shrinks it: with ``wae-mmd`` (MMD of sampled codes to
  N(0, I), which μ ≈ 0, σ = 1 matches exactly) μ's std fell to 0.02 (0 active latents, KL ≤ 6.1e-4 nats per
  latent), with the KL to 0.005 (0 active). On z = μ + σε the cosine geometry of the codes is noise unless
  |μ| dominates σ, so preserving the images' angles costs KL: the two terms trade off.
- The KL, not an MMD to N(0, I): both the MMD and the GMG are invariant to rotations of the codes, so
  deterministic codes (z = μ) under MMD + GMG spread out (std ≈ 1 in all 10 latents) without aligning with
  anything: MIG 0.0024 (shuffled codes 0.0012; an untrained encoder 0.005–0.020 over three seeds). The
  KL of a diagonal Gaussian posterior charges each latent separately, which is what prefers axes.
- λ/β = 1000: the GMG of cosine costs is at most a few hundredths (0.028 for codes that are pure noise), a KL
  is nats. At λ = 100 (lr 1e-4, 600 steps) the encoder stayed at the prior (μ std 0.005, GMG stuck at 0.029);
  at λ = 1000 it left it (lr 1e-4, 600 steps: 7 active latents; lr 3e-4, 300 steps: 8, KL 5.4 nats).

The GW solver settings are the ``gmg`` term's (:data:`.gmg.SOLVER_PARAMS`). Use with ``train-vae
--no-decoder``; extra regularizers on the encoder may be added as usual.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..ot.costs import COST_NAMES
from .gmg import SOLVER_PARAMS, map_regularizer, solver_from_settings
from .registry import OBJECTIVE, LossContext, LossTerm, Param, register
from .vae_objectives import gaussian_kl


@register
class DecoderFreeGMG(LossTerm):
    """Decoder-free GMG: β · KL(q(z|x) ‖ N(0, I)) + λ · GMG(x ↦ z) on sampled codes (Uscidda et al., ICLR 2025).

    No reconstruction: train it with ``train-vae --no-decoder``. See :mod:`latentdirs.losses.decoder_free`
    for the formula and the measurements behind β, λ and the sampled codes.
    """

    name = "decoder-free-gmg"
    role = OBJECTIVE
    domains = frozenset({"vae"})
    needs = frozenset({"x", "mu", "logvar", "z"})
    encoder_only = True
    params = {
        "beta": Param(1.0, "weight β of the KL to the prior", minimum=0),
        "weight": Param(1000.0, "weight λ of the Gromov-Monge gap of x ↦ z", minimum=0),
        "cost": Param("cosine", "intra-domain cost on images and codes", COST_NAMES),
        **SOLVER_PARAMS,
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.gw_solver = solver_from_settings(self.hp)

    def forward(self, ctx: LossContext) -> dict[str, Tensor]:
        kl = gaussian_kl(ctx.mu, ctx.logvar)
        out = map_regularizer(ctx.x, ctx.z, "gmg", self.hp["cost"], self.hp["eps0"], self.gw_solver)
        gap = out.pop("value")
        loss = self.hp["beta"] * kl + self.hp["weight"] * gap
        return {"loss": loss, "kl": kl, "gmg": gap.detach(), **out}
