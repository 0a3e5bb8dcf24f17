"""The VAE trainer on a tiny dataset: learning, bit-identical resume, loss_orthogonal, decoder-free, outputs."""

import json
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from latentdirs.data.base import GroundTruthData
from latentdirs.errors import UserError
from latentdirs.interrupt import Interrupted
from latentdirs.losses import REGULARIZER, LossContext, LossTerm, Param, register
from latentdirs.vae.config import TrainConfig
from latentdirs.vae.gradients import project_nonconflicting
from latentdirs.vae.pictures import traversal_grid
from latentdirs.vae.runs import RunDir, load_checkpoint, load_trained
from latentdirs.vae.trainer import Trainer, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Squares(GroundTruthData):
    """Tiny ground truth: one white square, x and y position and size as factors."""

    name = "squares"
    factor_names = ("x", "y", "size")
    factor_sizes = (8, 8, 3)
    observation_shape = (1, 64, 64)

    def _render(self, factors: np.ndarray) -> np.ndarray:
        images = np.zeros((len(factors), 1, 64, 64), np.float32)
        for i, (x, y, size) in enumerate(factors):
            width = 8 + 6 * size
            images[i, 0, 6 * y : 6 * y + width, 6 * x : 6 * x + width] = 1.0
        return images


class Crash(Exception):
    pass


CRASH_AT_STEP: list[int] = []
SIGINT_AT_STEP: list[int] = []  # a Ctrl-C arrives during these steps


@register
class Probe(LossTerm):
    """Test-only regularizer reading the generator, a second batch, the decoder; returns loss_orthogonal."""

    name = "test-probe"
    role = REGULARIZER
    domains = frozenset({"vae"})
    needs = frozenset({"z", "recon", "generator", "next_batch", "encode", "decode"})
    params = {"weight": Param(1.0), "against_recon": Param(0.0)}

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:
        if ctx.step in CRASH_AT_STEP:
            raise Crash
        if ctx.step in SIGINT_AT_STEP:
            signal.raise_signal(signal.SIGINT)
        noise = torch.randn(ctx.z.shape, generator=ctx.generator, device=ctx.z.device)
        shifted = torch.sigmoid(ctx.decode(ctx.z + noise)).mean()
        mu2, _ = ctx.encode(ctx.next_batch())
        orthogonal = self.hp["weight"] * (shifted - self.hp["against_recon"] * 1e-3 * ctx.recon)
        return {"loss": 0.1 * mu2.pow(2).mean(), "loss_orthogonal": orthogonal}


def config(**overrides) -> TrainConfig:
    options = {"objective": "beta-vae:beta=2", "steps": 4, "batch_size": 8, "latent_dim": 4, "device": "cpu",
               "checkpoint_every": 2, "log_every": 1, "lr": 1e-3, "seed": 7}
    return TrainConfig.from_dict({**options, **overrides})


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def test_short_training_lowers_the_loss(tmp_path):
    result = train(config(steps=15, log_every=3, checkpoint_every=100), RunDir(tmp_path / "run"),
                   dataset=Squares(), progress=False, echo=lambda _: None)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    losses = [float(row.split(",")[header.index("loss")]) for row in rows[1:]]
    assert len(losses) == 5
    assert losses[-1] < 0.7 * losses[0]
    assert result.summary["final"]["loss"] == pytest.approx(losses[-1], rel=1e-5)


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    cfg = config(objective="factor-vae:gamma=5", regularizers=["test-probe"])
    straight = Trainer(cfg, RunDir(tmp_path / "straight"), dataset=Squares(), progress=False, echo=lambda _: None)
    straight.train()
    crashed = RunDir(tmp_path / "crashed")
    CRASH_AT_STEP.append(3)  # dies during the 4th step, after the checkpoint at step 2
    try:
        with pytest.raises(Crash):
            train(cfg, crashed, dataset=Squares(), progress=False, echo=lambda _: None)
    finally:
        CRASH_AT_STEP.clear()
    assert load_checkpoint(crashed.checkpoint)["step"] == 2
    resumed = Trainer(cfg, crashed, dataset=Squares(), progress=False, echo=lambda _: None)
    resumed.train(resume=True)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(straight.terms[0].state_dict().values(), resumed.terms[0].state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the FactorVAE discriminator
    state_a, state_b = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(state_a[k]["exp_avg_sq"], state_b[k]["exp_avg_sq"]) for k in state_a)
    assert (tmp_path / "straight" / "log.csv").read_text() == crashed.log.read_text()


def test_ctrl_c_finishes_the_step_saves_and_resumes_bit_identically(tmp_path):
    cfg = config(regularizers=["test-probe"])
    straight = Trainer(cfg, RunDir(tmp_path / "straight"), dataset=Squares(), progress=False, echo=lambda _: None)
    straight.train()
    stopped = RunDir(tmp_path / "stopped")
    handler = signal.getsignal(signal.SIGINT)
    SIGINT_AT_STEP.append(2)  # Ctrl-C during the 3rd step: it finishes, then a checkpoint at step 3 (not periodic)
    try:
        with pytest.raises(Interrupted, match="stopped at step 3 of 4; checkpoint saved"):
            train(cfg, stopped, dataset=Squares(), progress=False, echo=lambda _: None)
    finally:
        SIGINT_AT_STEP.clear()
    assert signal.getsignal(signal.SIGINT) is handler  # the usual Ctrl-C behaviour is back
    assert load_checkpoint(stopped.checkpoint)["step"] == 3
    resumed = Trainer(cfg, stopped, dataset=Squares(), progress=False, echo=lambda _: None)
    resumed.train(resume=True)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_half_then_resume_to_full_is_bit_identical(tmp_path):
    straight = Trainer(config(), RunDir(tmp_path / "a"), dataset=Squares(), progress=False, echo=lambda _: None)
    straight.train()
    train(config(steps=2), RunDir(tmp_path / "b"), dataset=Squares(), progress=False, echo=lambda _: None)
    resumed = Trainer(config(), RunDir(tmp_path / "b"), dataset=Squares(), progress=False, echo=lambda _: None)
    resumed.train(resume=True)
    assert resumed.step == 4
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_term_switched_off_is_averaged_over_the_steps_it_ran(tmp_path):
    cfg = config(regularizers=["jacobian_l1:delay=2,ramp_steps=0"], steps=4, log_every=4)
    logged = Trainer(cfg, RunDir(tmp_path / "run"), dataset=Squares(), progress=False, echo=lambda _: None)
    logged.train()
    stepped = Trainer(cfg, RunDir(tmp_path / "stepped"), dataset=Squares(), progress=False, echo=lambda _: None)
    values = [stepped.train_step(step).get("jacobian_l1.jacobian_l1") for step in range(4)]
    assert values[:2] == [None, None] and None not in values[2:]  # off during its delay: nothing logged
    assert logged.last_logged["jacobian_l1.jacobian_l1"] == pytest.approx(float(values[2] + values[3]) / 2)
    assert logged.last_logged["jacobian_l1.gamma"] == pytest.approx(0.1 / 2)  # logged every step


def test_projection_removes_only_a_conflicting_component():
    g, r = [torch.tensor([1.0, 0.0]), torch.tensor([2.0])], [torch.tensor([-1.0, 1.0]), torch.tensor([0.0])]
    projected = project_nonconflicting(g, r)
    # <g, r> = −1, ‖r‖² = 2: g − (−1/2) r
    torch.testing.assert_close(flat(projected), torch.tensor([0.5, 0.5, 2.0]))
    assert flat(projected) @ flat(r) == pytest.approx(0.0)
    agreeing = [torch.tensor([1.0, 1.0]), torch.tensor([3.0])]
    torch.testing.assert_close(flat(project_nonconflicting(agreeing, r[:1] + [torch.tensor([5.0])])), flat(agreeing))
    torch.testing.assert_close(flat(project_nonconflicting(g, [torch.zeros(2), torch.zeros(1)])), flat(g))


def test_trainer_adds_the_orthogonalized_gradient(tmp_path):
    cfg = config(regularizers=["test-probe:weight=50,against_recon=1"])
    trainer = Trainer(cfg, RunDir(tmp_path / "a"), dataset=Squares(), progress=False)
    trainer.train_step(0)
    got = flat(p.grad for p in trainer.model.parameters())
    # the same step by hand, on an identically seeded trainer
    twin = Trainer(cfg, RunDir(tmp_path / "b"), dataset=Squares(), progress=False)
    params = list(twin.model.parameters())
    ctx = twin.context(twin.batch(twin.data_rs), 0)
    outputs = [term(ctx) for term in twin.terms]
    grads = lambda loss: flat(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True))  # noqa: E731
    g_total = grads(outputs[0]["loss"] + outputs[1]["loss"])
    g_orth, g_recon = grads(outputs[1]["loss_orthogonal"]), grads(ctx.recon)
    dot = g_orth @ g_recon
    assert dot < 0  # the probe was built to conflict with the reconstruction
    expected = g_total + g_orth - dot / (g_recon @ g_recon) * g_recon
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(got, g_total + g_orth, rtol=1e-3, atol=1e-5)


def test_an_orthogonal_term_that_is_off_costs_no_gradient_pass(tmp_path, monkeypatch):
    from latentdirs.vae import trainer as trainer_module

    calls = []
    monkeypatch.setattr(trainer_module, "orthogonalized_gradients", lambda *args: calls.append(args))
    cfg = config(regularizers=["topdis:gamma=5,delay=10,orthogonalize=true,sampler=uniform"])
    trainer = Trainer(cfg, RunDir(tmp_path / "a"), dataset=Squares(), progress=False)
    trainer.train_step(0)  # TopDis is off during its delay: its loss_orthogonal is a constant 0
    assert calls == []


def test_decoder_free_training(tmp_path):
    with pytest.raises(UserError, match="test-probe.*needs decode"):
        Trainer(config(decoder=False, objective="wae-mmd", regularizers=["test-probe"]), RunDir(tmp_path / "x"),
                dataset=Squares())
    with pytest.raises(UserError, match="--no-decoder .* objective 'beta-vae'"):  # KL only: a collapsed encoder
        config(decoder=False)
    run = RunDir(tmp_path / "free")
    result = train(config(decoder=False, objective="wae-mmd", steps=2), run, dataset=Squares(), progress=False,
                   echo=lambda _: None)
    assert result.pictures == [] and result.summary["final"]["recon"] == 0.0
    loaded = load_trained(run.path, dataset=Squares())
    assert loaded.model.decoder is None and loaded.encode_mean(np.zeros((3, 1, 64, 64), np.float32)).shape == (3, 4)


def test_run_directory_explains_itself_and_loads_back(tmp_path):
    run = RunDir(tmp_path / "run")
    cfg = config(steps=2)
    trainer = Trainer(cfg, run, dataset=Squares(), progress=False, echo=lambda _: None)
    result = trainer.train()
    for path in (run.config, run.readme, run.checkpoint, run.log, run.model, run.summary):
        assert path.is_file(), path
    assert TrainConfig.from_dict(json.loads(run.config.read_text())) == cfg
    assert cfg.objective == {"name": "beta-vae", "beta": 2.0, "ramp_steps": 0}
    assert "--resume" in run.readme.read_text()
    assert Image.open(run.reconstructions).size == ((8 * 66 + 2) * 2, (2 * 66 + 2) * 2)
    assert Image.open(run.traversals).size == ((9 * 66 + 2) * 2, (4 * 66 + 2) * 2)
    assert set(result.pictures) == {run.reconstructions, run.traversals}
    summary = json.loads(run.summary.read_text())
    assert summary["steps"] == 2 and len(summary["kl_per_latent"]) == 4
    kl, rows = summary["kl_per_latent"], summary["traversal_rows"]
    assert sorted(rows) == [0, 1, 2, 3] and all(kl[i] >= kl[j] for i, j in zip(rows[:-1], rows[1:], strict=True))
    assert f"d = {rows}" in run.readme.read_text()
    # the picture's row r is latent rows[r]: the same as that latent's row of the grid in natural order
    image = Squares().sample_observations(1, np.random.RandomState(0))[0]
    natural = np.asarray(Image.open(traversal_grid(trainer.model, image, tmp_path / "natural.png")))
    ordered = np.asarray(Image.open(traversal_grid(trainer.model, image, tmp_path / "ordered.png", [2, 0])))
    height = 66 * 2
    np.testing.assert_array_equal(ordered[4:4 + height - 4], natural[2 * height + 4:3 * height])
    np.testing.assert_array_equal(ordered[height + 4:2 * height], natural[4:height])
    loaded = load_trained(run.path, dataset=Squares())
    assert not loaded.model.training
    images = Squares().sample_observations(5, np.random.RandomState(0))
    with torch.no_grad():
        expected = trainer.model.eval().encoder(torch.from_numpy(images))[0].numpy()
    np.testing.assert_array_equal(loaded.encode_mean(images), expected)
    with pytest.raises(UserError, match="shape"):
        loaded.encode_mean(images[:, :, :32])
    edited = {**json.loads(run.config.read_text()), "latent_dim": 5}  # weights of another size: say which
    run.config.write_text(json.dumps(edited))
    with pytest.raises(UserError, match=r"do not match its config.json \(size mismatch for encoder\.mean\.weight"):
        load_trained(run.path, dataset=Squares())


@pytest.mark.parametrize("breaks", ["loss", "weights"])
def test_a_run_that_diverges_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, breaks):
    """A NaN loss, or an optimizer step that makes the weights NaN, stops the run with one UserError before
    anything of it is saved: checkpoints/last.pt stays the finite state of step 2, no model.safetensors appears."""
    run = RunDir(tmp_path / "run")
    trainer = Trainer(config(steps=6, checkpoint_every=2), run, dataset=Squares(), progress=False,
                      echo=lambda _: None)
    objective = trainer.terms[0]
    forward, step = objective.forward, trainer.optimizer.step

    def nan_loss(ctx):
        out = forward(ctx)
        return {**out, "loss": out["loss"] * float("nan")} if ctx.step == 3 else out

    def nan_weights(*args, **kwargs):
        result = step(*args, **kwargs)
        if trainer.step == 3:
            with torch.no_grad():
                next(trainer.model.parameters()).view(-1)[0] = float("nan")
        return result

    if breaks == "loss":
        monkeypatch.setattr(objective, "forward", nan_loss)
    else:
        monkeypatch.setattr(trainer.optimizer, "step", nan_weights)
    with pytest.raises(UserError, match="training diverged: .*step 3.*the last good checkpoint"):
        trainer.train()
    kept = load_checkpoint(run.checkpoint)
    assert kept["step"] == 2 and all(torch.isfinite(t).all() for t in kept["model"].values())
    assert not run.model.exists() and not run.summary.exists()
