"""Decoder-free GMG (``decoder-free-gmg``): the formula, its refusal of a decoder, and that it learns on dSprites."""

import copy

import numpy as np
import pytest
import torch

from latentdirs.errors import UserError
from latentdirs.losses import LossContext, registry
from latentdirs.losses.gmg import map_regularizer
from latentdirs.losses.vae_objectives import gaussian_kl
from latentdirs.metrics import discrete_entropy, discrete_mutual_info, histogram_discretize, mig
from latentdirs.vae.config import TrainConfig
from latentdirs.vae.runs import RunDir
from latentdirs.vae.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_objective_is_kl_plus_weighted_gap_of_the_sampled_codes():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 8, 8, generator=g)
    mu = torch.randn(12, 3, generator=g, requires_grad=True)
    logvar = (0.3 * torch.randn(12, 3, generator=g)).requires_grad_()
    z = mu + torch.exp(0.5 * logvar) * torch.randn(12, 3, generator=g)
    term = registry.build("decoder-free-gmg:beta=2,weight=50")
    out = term(LossContext(x=x, mu=mu, logvar=logvar, z=z))
    gap = map_regularizer(x, z, "gmg", "cosine", term.hp["eps0"], term.gw_solver)["value"]
    torch.testing.assert_close(out["loss"], 2 * gaussian_kl(mu, logvar) + 50 * gap)
    assert {"kl", "gmg", "dst", "gw_sharpness"} <= set(out)
    (grad,) = torch.autograd.grad(out["loss"] - 2 * gaussian_kl(mu, logvar), logvar)
    assert grad.abs().sum() > 0  # the gap reaches σ through the sampled codes, not only μ


def test_objective_wants_no_decoder():
    with pytest.raises(UserError, match="--no-decoder"):
        TrainConfig.from_dict({"objective": "decoder-free-gmg"})
    assert TrainConfig.from_dict({"objective": "decoder-free-gmg", "decoder": False}).objective["weight"] == 1000.0


def _codes(encoder, images):
    with torch.no_grad():
        return encoder(torch.from_numpy(images))[0].numpy()


def _factor_information(codes, factors):
    """Per factor: the largest mutual information of one code with it, over the factor's entropy."""
    return discrete_mutual_info(histogram_discretize(codes, 20), factors).max(axis=0) / discrete_entropy(factors)


@pytest.mark.slow
def test_decoder_free_gmg_leaves_the_prior_and_learns_on_dsprites(tmp_path):
    """300 steps on dSprites (lr 3e-4, batch 64). Active latent: mean KL(q(z_d|x) ‖ N(0, 1)) > 0.1 nats over 256
    images (the trainer's summary). The issue's recipe (``wae-mmd`` + ``gmg:where=encoder``, 800 steps at lr 1e-3)
    ended with 0 such latents (μ std 0.02); an untrained encoder's MIG is already above shuffled codes', so the
    codes must also say more about the position than the same network before training."""
    config = TrainConfig.from_dict({"dataset": "dsprites", "decoder": False, "objective": "decoder-free-gmg",
                                    "steps": 300, "lr": 3e-4, "seed": 0, "log_every": 50, "checkpoint_every": 1000})
    trainer = Trainer(config, RunDir(tmp_path / "run"), progress=False, echo=lambda _: None)
    untrained = copy.deepcopy(trainer.model.encoder).eval()
    result = trainer.train()
    assert result.summary["active_latents"] >= 3, result.summary["kl_per_latent"]

    factors, images = trainer.dataset.sample(4000, np.random.RandomState(123))
    images = np.ascontiguousarray(images, dtype=np.float32)
    codes = _codes(trainer.model.encoder, images)
    rs = np.random.RandomState(7)
    shuffled = max(mig(codes[rs.permutation(len(codes))], factors) for _ in range(5))
    score = mig(codes, factors)
    assert score > 3 * shuffled and score > shuffled + 0.005, (score, shuffled)

    position = slice(3, 5)  # posX, posY
    before = _factor_information(_codes(untrained, images), factors)[position]
    after = _factor_information(codes, factors)[position]
    assert np.all(after > 1.3 * before), (before, after)
