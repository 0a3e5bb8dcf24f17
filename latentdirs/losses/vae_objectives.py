"""The VAE objectives of disentanglement_lib, as registry terms (role ``objective``, domain ``vae``).

Each returns ``loss = recon + regularizer`` and logs ``recon``, ``kl`` and its own parts. Notation:
x a batch of B images, q(z|x) = N(μ(x), diag σ²(x)) with D latents, z a reparameterized sample,
KL = mean_b ½ Σ_d (μ² + σ² − log σ² − 1) the KL to the prior N(0, I) (``compute_gaussian_kl``).
Defaults follow disentanglement_lib (``unsupervised_study_v1``): where its configs fix a value it
is used; where they sweep one, a value from the sweep is the default (said in each docstring).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..vae.models import glorot_init_
from .registry import OBJECTIVE, LossContext, LossTerm, Param, register
from .schedules import ramp_weight


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over latents, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(1).mean()


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; μ, σ²) = −½ ((z − μ)² / σ² + log σ² + log 2π) (broadcasting)."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi))


def total_correlation_mws(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """Minibatch-weighted-sampling estimate of TC(z) = KL(q(z) ‖ Π_d q(z_d)) (Chen et al. 2018, §4.1).

    With M = batch size, N = dataset size and ℓ_{ijd} = log q(z_{i,d} | x_j):

        log q(z_i)      ≈ logsumexp_j Σ_d ℓ_{ijd} − log(N M)
        log q(z_{i,d})  ≈ logsumexp_j ℓ_{ijd} − log(N M)
        TC ≈ mean_i [log q(z_i) − Σ_d log q(z_{i,d})]

    disentanglement_lib's ``total_correlation`` drops the constant (D − 1) log(N M); gradients agree.
    """
    batch, dims = z.shape
    log_q = gaussian_log_density(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # [i, j, d]
    log_qz = torch.logsumexp(log_q.sum(2), dim=1)
    log_qz_product = torch.logsumexp(log_q, dim=1).sum(1)
    constant = (dims - 1) * math.log(dataset_size * batch)
    return (log_qz - log_qz_product).mean() + constant


def covariance(samples: torch.Tensor) -> torch.Tensor:
    """Biased covariance over the batch, E[μ μᵀ] − E[μ] E[μ]ᵀ: ``[B, D]`` → ``[D, D]``."""
    centred = samples - samples.mean(0, keepdim=True)
    return centred.T @ centred / samples.shape[0]


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)² (Kumar et al. 2018, Eqs. 6–7)."""
    diagonal = torch.diagonal(cov)
    off_diagonal = cov - torch.diag(diagonal)
    return lambda_od * off_diagonal.pow(2).sum() + lambda_d * (diagonal - 1.0).pow(2).sum()


class _VAEObjective(LossTerm):
    role = OBJECTIVE
    domains = frozenset({"vae"})
    needs = frozenset({"recon", "mu", "logvar"})


@register
class BetaVAE(_VAEObjective):
    """β-VAE: recon + β · KL.

    Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained Variational
    Framework", ICLR 2017, Eq. 4. β = 1 is the plain VAE (disentanglement_lib's default
    ``vae.beta = 1``; its study sweeps β ∈ {1, 2, 4, 6, 8, 16}). ``ramp_steps``: β ramps linearly
    from 0, as in the JL1-VAE recipe (Rhodes & Lee 2021: β and γ over the first 100k of 300k steps;
    the γ of ``jacobian_l1`` has the same ``ramp_steps``).
    """

    name = "beta-vae"
    params = {
        "beta": Param(1.0, "weight of the KL term", minimum=0),
        "ramp_steps": Param(0, "steps over which β ramps linearly from 0 (JL1-VAE: 100000 of 300000; 0: off)",
                            minimum=0),
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        if self.hp["ramp_steps"]:
            self.needs = type(self).needs | {"step"}

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        kl = gaussian_kl(ctx.mu, ctx.logvar)
        if not self.hp["ramp_steps"]:
            return {"loss": ctx.recon + self.hp["beta"] * kl, "recon": ctx.recon, "kl": kl}
        beta = ramp_weight(self.hp["beta"], int(ctx.step), 0, self.hp["ramp_steps"])
        return {"loss": ctx.recon + beta * kl, "recon": ctx.recon, "kl": kl, "beta": torch.tensor(beta)}


@register
class AnnealedVAE(_VAEObjective):
    """AnnealedVAE: recon + γ · |KL − C(t)|, with capacity C(t) = min(C_max, C_max · t / T).

    Burgess et al., "Understanding disentangling in β-VAE", 2018 (arXiv 1804.03599), Eq. 8; t is the
    0-based training step. Defaults as in disentanglement_lib: γ = 1000, T = 100000; C_max = 25 (its
    study sweeps C_max ∈ {5, 10, 25, 50, 75, 100}).
    """

    name = "annealed-vae"
    needs = _VAEObjective.needs | {"step"}
    params = {
        "gamma": Param(1000.0, "weight of the capacity penalty", minimum=0),
        "c_max": Param(25.0, "final KL capacity C_max (nats)", minimum=0),
        "iteration_threshold": Param(100000, "steps T over which the capacity grows linearly to C_max", minimum=1),
    }

    def capacity(self, step: int) -> float:
        c_max = self.hp["c_max"]
        return min(c_max, c_max * step / self.hp["iteration_threshold"])

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        kl = gaussian_kl(ctx.mu, ctx.logvar)
        capacity = self.capacity(ctx.step)
        loss = ctx.recon + self.hp["gamma"] * (kl - capacity).abs()
        return {"loss": loss, "recon": ctx.recon, "kl": kl, "capacity": torch.tensor(capacity)}


@register
class BetaTCVAE(_VAEObjective):
    """β-TCVAE: recon + KL + (β − 1) · TC, TC by minibatch-weighted sampling.

    Chen et al., "Isolating Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018,
    Eq. 4 with α = γ = 1 (so the ELBO plus (β − 1) TC, as in disentanglement_lib). The TC estimate is
    :func:`total_correlation_mws`, which uses the dataset size N. Default β = 6 (disentanglement_lib
    sweeps β ∈ {1, 2, 4, 6, 8, 10}).
    """

    name = "beta-tcvae"
    needs = _VAEObjective.needs | {"z", "dataset_size"}
    params = {"beta": Param(6.0, "weight β of the total correlation (the loss adds (β − 1)·TC)", minimum=0)}

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        kl = gaussian_kl(ctx.mu, ctx.logvar)
        tc = total_correlation_mws(ctx.z, ctx.mu, ctx.logvar, ctx.dataset_size)
        loss = ctx.recon + kl + (self.hp["beta"] - 1.0) * tc
        return {"loss": loss, "recon": ctx.recon, "kl": kl, "tc": tc}


def permute_dims(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Shuffle each latent coordinate independently across the batch (samples of Π_d q(z_d))."""
    columns = [z[torch.randperm(z.shape[0], generator=generator, device=z.device), d] for d in range(z.shape[1])]
    return torch.stack(columns, dim=1)


def factor_discriminator(latent_dim: int) -> nn.Sequential:
    """FactorVAE's discriminator: 6 × (dense 1000, leaky ReLU 0.2), then 2 logits (real, permuted);
    Glorot-uniform weights and zero biases, as TensorFlow's dense layers in disentanglement_lib."""
    layers: list[nn.Module] = []
    width = latent_dim
    for _ in range(6):
        layers += [nn.Linear(width, 1000), nn.LeakyReLU(0.2)]
        width = 1000
    layers.append(nn.Linear(width, 2))
    return glorot_init_(nn.Sequential(*layers))


@register
class FactorVAE(_VAEObjective):
    """FactorVAE: recon + KL + γ · TC, TC ≈ mean_b [D(z_b)_0 − D(z_b)_1] (the density-ratio trick).

    Kim & Mnih, "Disentangling by Factorizing", ICML 2018, Eq. 2 and Algorithm 2. The discriminator
    D (:func:`factor_discriminator`, Appendix A) is trained after each VAE step with its own Adam
    (lr 1e-4, betas (0.5, 0.9)) to tell z (class 0) from its dimension-wise permutation (class 1),
    minimising −½ mean log p₀(z) − ½ mean log p₁(perm z) with the softmax probabilities clipped to
    [1e-6, 1 − 1e-6] (disentanglement_lib's ``make_discriminator``: no gradient from a sample the
    discriminator already gets right with that confidence); as in disentanglement_lib both come from the
    step's batch. Default γ = 10 (disentanglement_lib sweeps γ ∈ {10, 20, 30, 40, 50, 100}).
    """

    name = "factor-vae"
    needs = _VAEObjective.needs | {"z", "generator"}
    params = {
        "gamma": Param(10.0, "weight of the total correlation", minimum=0),
        "latent_dim": Param(10, "latent size (input of the discriminator); the trainer sets it", minimum=1),
        "disc_lr": Param(1e-4, "learning rate of the discriminator's Adam", above=0),
    }

    def __init__(self, **hparams: Any) -> None:
        super().__init__(**hparams)
        self.discriminator = factor_discriminator(self.hp["latent_dim"])
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=self.hp["disc_lr"], betas=(0.5, 0.9))

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        kl = gaussian_kl(ctx.mu, ctx.logvar)
        logits = self.discriminator(ctx.z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        loss = ctx.recon + kl + self.hp["gamma"] * tc
        return {"loss": loss, "recon": ctx.recon, "kl": kl, "tc": tc}

    def discriminator_loss(self, z: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, float]:
        """(−½ mean log p_real(z) − ½ mean log p_permuted(perm z), accuracy) on detached codes, the
        probabilities clipped to [1e-6, 1 − 1e-6]."""
        z = z.detach()
        logits = self.discriminator(torch.cat([z, permute_dims(z, generator)]))
        labels = torch.cat([torch.zeros(len(z), dtype=torch.long), torch.ones(len(z), dtype=torch.long)])
        labels = labels.to(z.device)
        probabilities = torch.softmax(logits, dim=1).clamp(1e-6, 1.0 - 1e-6)
        loss = -torch.log(probabilities.gather(1, labels[:, None])).mean()  # the two halves have equal size
        accuracy = (logits.argmax(1) == labels).float().mean().item()
        return loss, accuracy

    def after_step(self, ctx: LossContext) -> dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, accuracy = self.discriminator_loss(ctx.z, ctx.generator)
        loss.backward()
        self.optimizer.step()
        return {"disc_loss": loss.item(), "disc_acc": accuracy}

    def extra_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


@register
class DIPVAEI(_VAEObjective):
    """DIP-VAE-I: recon + KL + λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)², C = Cov_batch[μ(x)].

    Kumar et al., "Variational Inference of Disentangled Latent Concepts from Unlabeled
    Observations", ICLR 2018, Eq. 6. As in disentanglement_lib, λ_d = ``lambda_d_factor`` · λ_od, so a
    sweep over λ_od moves both; defaults λ_od = 10 (its sweep: {1, 2, 5, 10, 20, 50}), factor 10.
    """

    name = "dip-vae-i"
    params = {
        "lambda_od": Param(10.0, "weight of the off-diagonal covariance penalty", minimum=0),
        "lambda_d_factor": Param(10.0, "weight of the diagonal penalty, as a multiple of lambda_od", minimum=0),
    }

    def covariance(self, ctx: LossContext) -> torch.Tensor:
        return covariance(ctx.mu)

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        kl = gaussian_kl(ctx.mu, ctx.logvar)
        lambda_od = self.hp["lambda_od"]
        dip = dip_penalty(self.covariance(ctx), lambda_od, self.hp["lambda_d_factor"] * lambda_od)
        return {"loss": ctx.recon + kl + dip, "recon": ctx.recon, "kl": kl, "dip": dip}


@register
class DIPVAEII(DIPVAEI):
    """DIP-VAE-II: recon + KL + λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)², C = E[diag σ²(x)] + Cov[μ(x)].

    C = Cov_q[z], the covariance of the aggregate posterior, over the batch.

    Kumar et al., ICLR 2018, Eq. 7. Defaults: λ_od = 10, λ_d = λ_od (disentanglement_lib's
    ``lambda_d_factor = 1`` for this variant).
    """

    name = "dip-vae-ii"
    params = {
        "lambda_od": Param(10.0, "weight of the off-diagonal covariance penalty", minimum=0),
        "lambda_d_factor": Param(1.0, "weight of the diagonal penalty, as a multiple of lambda_od", minimum=0),
    }

    def covariance(self, ctx: LossContext) -> torch.Tensor:
        return torch.diag(ctx.logvar.exp().mean(0)) + covariance(ctx.mu)
