"""The ``topdis`` registry term on a small stand-in decoder (the trainer run lives at the end)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import cdist
from torch import nn

from latentdirs.errors import UserError
from latentdirs.losses import registry
from latentdirs.losses.registry import LossContext
from latentdirs.topology import quantile_shift, rtd, shift_latents

# CPU training with two torch threads is not bit-reproducible here (three runs of the short dSprites run gave
# three different models); one thread makes it so, and the RTD comparison below deterministic.
pytestmark = pytest.mark.usefixtures("one_torch_thread")

class _Decoder(nn.Module):
    def __init__(self, latent_dim: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc_in = nn.Linear(latent_dim, 256)
        self.out = nn.Linear(256, 64)

    def forward(self, z):
        return self.out(torch.tanh(self.fc_in(z))).view(-1, 1, 8, 8)


class _Model(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(64, 2 * latent_dim)
        self.decoder = _Decoder(latent_dim)

    def encode(self, x):
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar


def _context(net: _Model, batch: int = 24, step: int = 100, seed: int = 0, total_steps: int = 1000,
             **extra) -> LossContext:
    """A step of a run of ``total_steps``; the default step is the first after the default delay (10 %)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 8, 8, generator=gen)
    mu, logvar = net.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
    fields = dict(x=x, z=z, mu=mu, logvar=logvar, x_logits=net.decoder(z), decode=net.decoder, model=net,
                  encode=net.encode, reconstruction="bernoulli", step=step, total_steps=total_steps,
                  generator=torch.Generator().manual_seed(seed + 1),
                  next_batch=lambda: torch.rand(batch, 1, 8, 8, generator=gen))
    fields.update(extra)
    return LossContext(**fields)


def test_registered_with_parameters():
    term = registry.build("topdis:gamma=2,delay=10,sampler=uniform,variant=official,batch=second")
    assert term.role == registry.REGULARIZER and "vae" in term.domains
    assert term.hp["gamma"] == 2.0 and term.hp["card"] == 50 and term.hp["shift"] == 0.125
    assert {"next_batch", "encode"} <= term.needs and "x_logits" not in term.needs
    assert "x_logits" in registry.build("topdis").needs
    with pytest.raises(UserError, match="must be one of"):
        registry.build("topdis:sampler=norm")
    with pytest.raises(UserError, match="shift"):
        registry.build("topdis:shift=0.7")
    with pytest.raises(UserError, match="needs"):
        registry.check_needs([registry.build("topdis")], frozenset({"z", "model", "generator", "step"}), "vae")


def test_value_is_rtd_of_decoded_batches_and_differentiable():
    model = _Model(latent_dim=1)  # one coordinate: only the sign is random
    ctx = _context(model)
    out = registry.build("topdis:gamma=3")(ctx)
    z = ctx.z.detach()
    candidates = []
    for sign in (1, -1):
        moved = quantile_shift(z[:, 0], 0.125, sign)
        before = torch.sigmoid(model.decoder(z[moved.keep])).flatten(1)
        after = torch.sigmoid(model.decoder(moved.shifted[:, None])).flatten(1)
        candidates.append(rtd(before, after, variant="official").item())
    assert any(out["rtd"].item() == pytest.approx(c, rel=1e-5) for c in candidates)
    assert out["loss"].item() == pytest.approx(3 * out["rtd"].item(), rel=1e-6)
    assert out["rtd"].item() > 0 and 0 < out["kept"].item() < 1
    out["loss"].backward()
    assert model.decoder.fc_in.weight.grad.abs().sum() > 0
    assert model.encoder.weight.grad.abs().sum() > 0  # through z and the batch mean/std


def _released_rtd(cloud1: torch.Tensor, cloud2: torch.Tensor, card: int = 50) -> float:
    """TopDis's released read-out, restated from its code (``rtd_regularizer.py``: ``z_dist(q_normalize=True)`` of
    each picture cloud, then ``MinMaxRTDLoss(dim=1, card=50, lp=1, is_sym=True)`` of ``rtd.py``), with the brute-force
    persistence pairs of ``test_topology`` in place of ripser++. Each of the four R-cross matrices ``DX`` gets a twin
    ``DX_2`` (the "immovable" copy); min-mode bars read their birth from ``DX`` and their death from ``DX_2``, max-mode
    bars the other way round; loss = ½ (Σ over x→z + Σ over z→x) of |death − birth|."""
    from test_topology import h1_pairs_bruteforce, longest_edge_as_released

    def normalized(cloud):
        dist = cdist(cloud.detach().numpy(), cloud.detach().numpy())
        return dist / np.quantile(dist, 0.9)

    def block(corner, lower):
        return np.block([[np.zeros_like(corner), corner.T], [corner, lower]])

    def direction(r1, r2, immovable):
        total = 0.0
        for mode in ("minimum", "maximum"):
            if mode == "minimum":
                dx = block(r1, np.minimum(r1, r2))
                twin = block(r1, r2) if immovable == 1 else block(r1, r1)
            else:
                dx = block(np.maximum(r1, r2), r2)
                twin = block(r2, r2) if immovable == 1 else block(r1, r2)
            bars = []
            for birth_edge, triangle in h1_pairs_bruteforce(dx):
                death_edge = longest_edge_as_released(dx, triangle)
                if dx[death_edge] > dx[birth_edge]:  # ripser reports no zero-length bars
                    births, deaths = (dx, twin) if mode == "minimum" else (twin, dx)
                    bars.append((dx[death_edge] - dx[birth_edge], births[birth_edge], deaths[death_edge]))
            bars.sort(key=lambda bar: -bar[0])
            total += sum(abs(death - birth) for _, birth, death in bars[:card])
        return total

    a, b = normalized(cloud1), normalized(cloud2)
    return (direction(a, b, immovable=1) + direction(b, a, immovable=2)) / 2


def test_default_value_is_the_released_read_out():
    """The paper's γ was tuned on the released read-out: the term's default is it, not the lower exact one."""
    torch.manual_seed(0)
    model = _Model(latent_dim=3)
    ctx = _context(model, batch=12, seed=12)  # a batch where the two read-outs differ (exact 3 % lower)
    value = registry.build("topdis")(ctx)["rtd"].item()
    z = ctx.z.detach()
    candidates = []  # (released, exact) for every coordinate and sign the term may have drawn
    for dim in range(3):
        for sign in (1, -1):
            moved = shift_latents(z, dim, 0.125, sign)
            before = torch.sigmoid(model.decoder(moved.kept)).flatten(1).double()
            after = torch.sigmoid(model.decoder(moved.shifted)).flatten(1).double()
            candidates.append((_released_rtd(before, after), rtd(before, after, variant="exact").item()))
    drawn = [(released, exact) for released, exact in candidates if value == pytest.approx(released, rel=1e-6)]
    assert drawn, (value, candidates)
    released, exact = drawn[0]
    assert exact < 0.99 * released


def test_gaussian_decoders_are_compared_through_their_mean_images():
    """Both reconstruction losses read the picture as sigmoid(logits): TopDis compares the same clouds."""
    model = _Model(latent_dim=3)
    values = [registry.build("topdis")(_context(model, reconstruction=kind))["rtd"].item()
              for kind in ("bernoulli", "gaussian")]
    assert values[0] == values[1] > 0


def test_delay_orthogonalize_and_second_batch():
    model = _Model(latent_dim=4)
    off = registry.build("topdis:delay=5")(_context(model, step=4))
    assert off["loss"].item() == 0.0 and not off["loss"].requires_grad
    on = registry.build("topdis:delay=5")(_context(model, step=5))
    assert on["loss"].item() > 0
    ortho = registry.build("topdis:orthogonalize=true")(_context(model))
    assert ortho["loss"].item() == 0.0 and ortho["loss_orthogonal"].requires_grad
    assert ortho["loss_orthogonal"].item() == pytest.approx(on["loss"].item(), rel=1e-6)
    assert set(registry.build("topdis:orthogonalize=true,delay=9")(_context(model))) == set(ortho)
    second = registry.build("topdis:batch=second")(_context(model))
    assert second["rtd"].item() > 0 and second["rtd"].item() != pytest.approx(on["rtd"].item())
    assert torch.equal(registry.build("topdis")(_context(model))["rtd"], on["rtd"])  # reproducible


def test_default_delay_is_a_tenth_of_the_run():
    """The released scripts switch TopDis on after 1e5 of 1e6 iterations."""
    model = _Model(latent_dim=3)
    term = registry.build("topdis")
    assert term.hp["delay"] == "10%"
    assert term(_context(model, step=299, total_steps=3000))["loss"].item() == 0.0
    assert term(_context(model, step=300, total_steps=3000))["loss"].item() > 0
    for spec, total, first_on in (("1/4", 100, 25), ("2.5%", 1000, 25), ("1e2", 10, 100), ("0", 10, 0)):
        custom = registry.build(f"topdis:delay={spec}")
        assert custom(_context(model, step=first_on - 1, total_steps=total))["loss"].item() == 0.0
        assert custom(_context(model, step=first_on, total_steps=total))["loss"].item() > 0
    for bad in ("-3", "1.5", "ten", "120%", "1/0"):
        with pytest.raises(UserError, match="delay"):
            registry.build(f"topdis:delay={bad}")
    with pytest.raises(UserError, match="share of the run's steps"):
        term(_context(model, total_steps=None))


def test_decoder_norm_sampler_follows_column_norms():
    model = _Model(latent_dim=4)
    with torch.no_grad():
        model.decoder.fc_in.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 0.0]).expand(256, 4))
    term = registry.build("topdis")
    ctx = _context(model)
    draws = np.bincount([term._coordinate(ctx, 4) for _ in range(3000)], minlength=4)
    assert draws[3] == 0
    assert stats.chisquare(draws[:3], 3000 * np.array([1, 2, 3]) / 6).pvalue > 1e-3
    uniform = np.bincount([registry.build("topdis:sampler=uniform")._coordinate(ctx, 4) for _ in range(2000)])
    assert stats.chisquare(uniform).pvalue > 1e-3
    # only coordinate 2 reaches the images: the sampler must pick it for the term to be non-zero
    with torch.no_grad():
        model.decoder.fc_in.weight.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0]).expand(256, 4))
    assert term(_context(model))["rtd"].item() > 0
    assert registry.build("topdis:sampler=uniform")(_context(model, seed=3))["rtd"].item() >= 0

    class _Bare(nn.Module):
        pass

    bare = _Bare()
    bare.decoder = nn.Sequential(nn.Linear(4, 64))
    with pytest.raises(UserError, match="fc_in"):
        term(_context(model, model=bare))


def test_tiny_batches_do_not_fail():
    model = _Model(latent_dim=3)
    for batch in (2, 3):
        out = registry.build("topdis")(_context(model, batch=batch))
        assert torch.isfinite(out["loss"]) and out["loss"].item() >= 0


def _shift_rtd(model, images: torch.Tensor) -> float:
    """Mean TopDis RTD of a model on fixed images: every coordinate, both signs, mean codes."""
    from latentdirs.topology import shift_latents

    with torch.no_grad():
        mu, _ = model.encoder(images)
        values = []
        for dim in range(mu.shape[1]):
            for sign in (1, -1):
                moved = shift_latents(mu, dim, 0.125, sign)
                before = torch.sigmoid(model.decoder(moved.kept)).flatten(1)
                after = torch.sigmoid(model.decoder(moved.shifted)).flatten(1)
                values.append(rtd(before, after).item())
    return float(np.mean(values))


@pytest.mark.slow
def test_short_dsprites_run_lowers_the_rtd_term(tmp_path):
    from latentdirs.vae.config import TrainConfig
    from latentdirs.vae.runs import RunDir
    from latentdirs.vae.trainer import Trainer

    ratios = []
    for seed in (1, 2, 3, 4, 5):  # one 30-step trajectory is noisy; five seeds make the effect plain
        results = {}
        # on from step 0 and the exact read-out: the settings the ratios below were measured with
        for label, regs in (("plain", []), ("topdis", ["topdis:gamma=30,sampler=uniform,delay=0,variant=exact"])):
            config = TrainConfig.from_dict(dict(
                dataset="dsprites", objective={"name": "beta-vae", "beta": 1.0}, regularizers=regs, steps=30,
                batch_size=16, lr=2e-3, seed=seed, device="cpu", checkpoint_every=1000, log_every=10))
            trainer = Trainer(config, RunDir(tmp_path / f"{label}{seed}"), progress=False, echo=lambda _: None)
            images = torch.from_numpy(trainer.dataset.sample_observations(64, np.random.RandomState(7))).float()
            start = _shift_rtd(trainer.model, images)
            trainer.train()
            results[label] = (start, _shift_rtd(trainer.model, images), trainer.last_logged)
        (start, plain, _), (same_start, topdis, logged) = results["plain"], results["topdis"]
        assert start == same_start  # same initial model, data and noise: only the regularizer differs
        assert np.isfinite(logged["loss"]) and logged["topdis.rtd"] > 0 and 0.5 < logged["topdis.kept"] < 1
        ratios.append(topdis / plain)
    # measured (RTD after TopDis / after plain), per seed: 0.68, 0.90, 0.67, 0.54, 0.54 with AVX-512 (from
    # 0.82–1.05 at the start; seeds 6, 7: 0.77, 0.42); 0.74, 1.11, 0.81, 0.49, 0.45 with AVX2 only
    # (ATEN_CPU_CAPABILITY=avx2); 0.58, 0.92, 0.92, 0.76, 1.07 without vector units (=default). The rounding
    # of the vector units sends 30-step trajectories apart like another seed does, so one seed's ratio is not
    # guaranteed below 1 (nor the mean below 0.8): asserted is that TopDis lowers the term on average over the
    # seeds (means 0.67 / 0.72 / 0.85). With γ = 100 single trajectories were erratic (1.45, 1.66 for some seeds).
    assert np.mean(ratios) < 1.0 and sorted(ratios)[2] < 1.0, ratios
