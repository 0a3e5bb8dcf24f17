"""Each VAE objective against an independent numpy computation on a tiny case."""

import math
import re

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from latentdirs.errors import UserError
from latentdirs.losses import OBJECTIVE, LossContext, available, build
from latentdirs.losses.vae_objectives import permute_dims

RNG = np.random.RandomState(0)
MU = RNG.randn(4, 3)
LOGVAR = 0.5 * RNG.randn(4, 3)
Z = MU + np.exp(0.5 * LOGVAR) * RNG.randn(4, 3)
RECON = 123.25


def ctx(**extra) -> LossContext:
    fields = dict(mu=torch.tensor(MU), logvar=torch.tensor(LOGVAR), z=torch.tensor(Z),
                  recon=torch.tensor(RECON, dtype=torch.float64), step=0, dataset_size=1000,
                  generator=torch.Generator().manual_seed(0))
    return LossContext(**{**fields, **extra})


def kl_numpy() -> float:
    total = 0.0
    for b in range(4):
        for d in range(3):
            var = math.exp(LOGVAR[b, d])
            # KL(N(m, v) || N(0, 1)) = ½ (v + m² − 1 − ln v)
            total += 0.5 * (var + MU[b, d] ** 2 - 1 - math.log(var))
    return total / 4


def test_all_objectives_are_registered_for_vae():
    ours = {"beta-vae", "annealed-vae", "beta-tcvae", "factor-vae", "dip-vae-i", "dip-vae-ii"}
    assert ours <= set(available(role=OBJECTIVE, domain="vae"))
    for name in ours:
        doc = build(name).__doc__
        assert re.search(r"(ICLR|ICML|NeurIPS) 20\d\d|arXiv", doc) and "recon +" in doc, name


def test_beta_vae():
    out = build("beta-vae:beta=4")(ctx())
    assert out["kl"].item() == pytest.approx(kl_numpy(), rel=1e-12)
    assert out["loss"].item() == pytest.approx(RECON + 4 * kl_numpy(), rel=1e-12)
    assert out["recon"].item() == RECON
    assert build("beta-vae").hp["beta"] == 1.0
    assert "step" not in build("beta-vae").needs


@pytest.mark.parametrize("step, beta", [(0, 0.0), (1, 0.04), (50, 2.0), (99, 3.96), (100, 4.0), (500, 4.0)])
def test_beta_vae_ramp_like_jl1_vae(step, beta):
    """JL1-VAE ramps β linearly from 0 (over 100k of 300k steps in the paper): jlonevae's
    ``β · num_batches_seen / annealingBatches``, batches counted from 0."""
    term = build("beta-vae:beta=4,ramp_steps=100")
    assert "step" in term.needs
    out = term(ctx(step=step))
    assert out["beta"].item() == pytest.approx(beta)
    assert out["loss"].item() == pytest.approx(RECON + beta * kl_numpy(), rel=1e-6)


@pytest.mark.parametrize("step, capacity", [(0, 0.0), (250, 5.0), (1000, 20.0), (5000, 20.0)])
def test_annealed_vae(step, capacity):
    term = build("annealed-vae:gamma=100,c_max=20,iteration_threshold=1000")
    out = term(ctx(step=step))
    assert out["capacity"].item() == pytest.approx(capacity)
    assert out["loss"].item() == pytest.approx(RECON + 100 * abs(kl_numpy() - capacity), rel=1e-12)
    assert build("annealed-vae").hp == {"gamma": 1000.0, "c_max": 25.0, "iteration_threshold": 100000}


def test_beta_tcvae_minibatch_weighted_sampling():
    n_data, batch, dims = 1000, 4, 3
    log_nm = math.log(n_data * batch)
    tc = 0.0
    for i in range(batch):
        # log q(z_i | x_j) per latent, from scipy's normal density
        per_latent = np.array([[norm.logpdf(Z[i, d], MU[j, d], math.exp(0.5 * LOGVAR[j, d])) for d in range(dims)]
                               for j in range(batch)])
        log_qz = logsumexp(per_latent.sum(1)) - log_nm
        log_prod = sum(logsumexp(per_latent[:, d]) - log_nm for d in range(dims))
        tc += (log_qz - log_prod) / batch
    out = build("beta-tcvae:beta=6")(ctx())
    assert out["tc"].item() == pytest.approx(tc, rel=1e-10)
    assert out["loss"].item() == pytest.approx(RECON + kl_numpy() + 5 * tc, rel=1e-10)


def test_factor_vae_total_correlation_uses_the_discriminator_logits():
    term = build("factor-vae:gamma=30,latent_dim=3").double()
    linears = [m for m in term.discriminator if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 1000)] + [(1000, 1000)] * 5 + [(1000, 2)]
    assert [m.negative_slope for m in term.discriminator if isinstance(m, torch.nn.LeakyReLU)] == [0.2] * 6
    for m in linears:  # TF's dense defaults: Glorot-uniform kernel, zero bias
        limit = math.sqrt(6.0 / (m.in_features + m.out_features))
        assert 0.97 * limit < m.weight.abs().max().item() <= limit and not m.bias.any()
    group = term.optimizer.param_groups[0]
    assert group["lr"] == 1e-4 and group["betas"] == (0.5, 0.9)
    h = Z
    for k, layer in enumerate(linears):
        h = h @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
        if k < 6:
            h = np.where(h > 0, h, 0.2 * h)
    tc = (h[:, 0] - h[:, 1]).mean()
    out = term(ctx())
    assert out["tc"].item() == pytest.approx(tc, rel=1e-9)
    assert out["loss"].item() == pytest.approx(RECON + kl_numpy() + 30 * tc, rel=1e-9)


def test_factor_vae_discriminator_step():
    term = build("factor-vae:latent_dim=3").double()
    z = torch.tensor(Z)
    permuted = permute_dims(z, torch.Generator().manual_seed(5))
    for d in range(3):  # each column is a permutation of the original column
        assert sorted(permuted[:, d].tolist()) == sorted(z[:, d].tolist())
    with torch.no_grad():
        logits = term.discriminator(torch.cat([z, permuted])).numpy()
    log_p = logits - logsumexp(logits, axis=1, keepdims=True)
    expected = -0.5 * (log_p[:4, 0].mean() + log_p[4:, 1].mean())
    loss, _ = term.discriminator_loss(z, torch.Generator().manual_seed(5))
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    before = [p.detach().clone() for p in term.discriminator.parameters()]
    logs = term.after_step(ctx(z=z.requires_grad_()))
    assert set(logs) == {"disc_loss", "disc_acc"}
    assert all(not torch.equal(a, b) for a, b in zip(before, term.discriminator.parameters(), strict=True))
    saturated = build("factor-vae:latent_dim=3").double()  # disentanglement_lib clips p to [1e-6, 1 − 1e-6]
    with torch.no_grad():
        saturated.discriminator[-1].bias.copy_(torch.tensor([40.0, 0.0]))
    logits = saturated.discriminator(torch.cat([z, permuted])).detach().numpy()
    p = np.clip(np.exp(logits - logsumexp(logits, axis=1, keepdims=True)), 1e-6, 1 - 1e-6)
    loss, _ = saturated.discriminator_loss(z, torch.Generator().manual_seed(5))
    assert loss.item() == pytest.approx(-0.5 * (np.log(p[:4, 0]).mean() + np.log(p[4:, 1]).mean()), rel=1e-10)
    assert loss.item() == pytest.approx(-0.5 * math.log(1e-6), rel=1e-3)  # unclipped it would be about 20
    state = term.extra_state()
    fresh = build("factor-vae:latent_dim=3").double()
    fresh.load_state_dict(term.state_dict())
    fresh.load_extra_state(state)
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 1


def cov_numpy(a: np.ndarray) -> np.ndarray:
    return np.cov(a, rowvar=False, bias=True)


def dip_numpy(cov: np.ndarray, lambda_od: float, lambda_d: float) -> float:
    off = sum(cov[i, j] ** 2 for i in range(3) for j in range(3) if i != j)
    return lambda_od * off + lambda_d * sum((cov[i, i] - 1) ** 2 for i in range(3))


def test_dip_vae_i():
    out = build("dip-vae-i:lambda_od=2,lambda_d_factor=3.5")(ctx())
    dip = dip_numpy(cov_numpy(MU), 2, 7)
    assert out["dip"].item() == pytest.approx(dip, rel=1e-12)
    assert out["loss"].item() == pytest.approx(RECON + kl_numpy() + dip, rel=1e-12)
    assert build("dip-vae-i").hp == {"lambda_od": 10.0, "lambda_d_factor": 10.0}
    # disentanglement_lib's coupling: λ_d = lambda_d_factor · λ_od, so a λ_od sweep moves both
    swept = build("dip-vae-i:lambda_od=2")(ctx())["dip"].item()
    assert swept == pytest.approx(dip_numpy(cov_numpy(MU), 2, 20), rel=1e-12)


def test_dip_vae_ii():
    cov = np.diag(np.exp(LOGVAR).mean(0)) + cov_numpy(MU)
    out = build("dip-vae-ii:lambda_od=3,lambda_d_factor=2")(ctx())
    dip = dip_numpy(cov, 3, 6)
    assert out["dip"].item() == pytest.approx(dip, rel=1e-12)
    assert out["loss"].item() == pytest.approx(RECON + kl_numpy() + dip, rel=1e-12)
    assert build("dip-vae-ii").hp == {"lambda_od": 10.0, "lambda_d_factor": 1.0}


def test_unknown_parameter_is_a_user_error():
    with pytest.raises(UserError, match="unknown parameter"):
        build("beta-vae:gamma=3")
