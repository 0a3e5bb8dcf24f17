"""Discovery: each method yields K directions, gradients reach the matrix, resume is bit identical."""

import json
import signal

import pytest
import torch
from directions_support import tiny_generator

from latentdirs.directions.dirfile import load_directions
from latentdirs.directions.discovery import run_discovery
from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.trainer import DirectionTrainer, DiscoveryConfig, build_term
from latentdirs.errors import UserError
from latentdirs.interrupt import Interrupted

pytestmark = pytest.mark.usefixtures("one_torch_thread")
#: report pictures kept small: one sample row, two columns (±3σ)
SMALL_REPORT = {"samples": 1, "strengths": [-3.0, 3.0]}


def _config(**overrides):
    values = dict(num_directions=3, steps=4, batch_size=8, lr=1e-2, stats_samples=128, pca_samples=512,
                  checkpoint_every=2)
    values.update(overrides)
    return DiscoveryConfig(**values)


def _handle(seed=0):
    return GeneratorHandle(tiny_generator(seed=seed))


@pytest.mark.parametrize("method,space,layers,parameterization", [
    ("reconstructor", "w", "all", "orthonormal"),
    ("reconstructor", "z", "all", "qr"),
    ("reconstructor", "w", "1-3", "unit"),
    ("reconstructor", "w", "all", "linear"),
    ("topdis", "w", "0-2", "orthonormal"),
    ("gmg:anchors=2,points=4", "z", "all", "qr"),
    ("ganspace", "w", "all", "orthonormal"),
    ("ganspace", "z", "all", "orthonormal"),
    ("sefa", "w", "0-2", "orthonormal"),
])
def test_each_method_gives_k_directions(tmp_path, method, space, layers, parameterization):
    handle = _handle()
    config = _config(method=method, space=space, layers=layers, parameterization=parameterization)
    dset = run_discovery(handle, config, tmp_path, progress=False, report={"samples": 2, "strengths": [-3.0, 0.0, 3.0]})
    dim = handle.z_dim if space == "z" else handle.w_dim
    assert dset.directions.shape == (3, dim)
    norms = dset.directions.norm(dim=1)
    if parameterization != "linear":
        assert torch.allclose(norms, torch.ones(3), atol=1e-5)
    if parameterization in ("orthonormal", "qr"):
        assert torch.allclose(dset.directions @ dset.directions.T, torch.eye(3), atol=1e-5)
    back = load_directions(tmp_path / "directions.safetensors", handle)
    assert torch.equal(back.directions, dset.directions) and back.method == method
    assert back.steps == (0 if method in ("ganspace", "sefa") else 4)
    for k in range(3):
        assert (tmp_path / "traversals" / f"direction_{k:02d}.png").is_file()
    report = (tmp_path / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 3 and "<table>" in report
    assert json.loads((tmp_path / "config.json").read_text())["discovery"]["method"] == method
    if method == "sefa":
        assert back.eigenvalues is not None and torch.all(back.eigenvalues[:-1] >= back.eigenvalues[1:])


def test_reconstructor_gradient_reaches_the_direction_matrix():
    for parameterization in ("orthonormal", "qr", "unit", "linear"):
        trainer = DirectionTrainer(_handle(), _config(parameterization=parameterization))
        directions = trainer.model()
        ctx = trainer.context(directions)
        loss = trainer.terms[0](ctx)["loss"]
        (grad,) = torch.autograd.grad(loss, directions)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        assert grad[ctx.direction_index.unique()].abs().sum() > 0


def test_training_changes_directions_and_reconstructor_learns():
    trainer = DirectionTrainer(_handle(), _config(steps=3))
    before = trainer.directions().clone()
    net_before = [p.detach().clone() for p in trainer.terms[0].net.parameters()]
    for _ in range(3):
        logs = trainer.train_step()
    assert not torch.equal(before, trainer.directions())
    assert any(not torch.equal(a, b) for a, b in zip(net_before, trainer.terms[0].net.parameters(), strict=True))
    assert {"loss", "reconstructor/cross_entropy", "reconstructor/accuracy"} <= set(logs)


@pytest.mark.parametrize("method", ["reconstructor", "reconstructor:net=resnet18"])
def test_resume_is_bit_identical(tmp_path, method):
    straight = DirectionTrainer(_handle(), _config(steps=6, method=method))
    for _ in range(6):
        straight.train_step()
    first = DirectionTrainer(_handle(), _config(steps=6, method=method))
    for _ in range(3):
        first.train_step()
    first.save_checkpoint(tmp_path / "ck.pt")
    resumed = DirectionTrainer(_handle(), _config(steps=6, method=method))
    resumed.load_checkpoint(tmp_path / "ck.pt")
    for _ in range(3):
        resumed.train_step()
    assert torch.equal(straight.directions(), resumed.directions())
    for a, b in zip(straight.terms[0].state_dict().values(), resumed.terms[0].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert straight.history == resumed.history


def test_run_folder_resume_matches_uninterrupted_run(tmp_path):
    handle = _handle()
    run_discovery(handle, _config(steps=6), tmp_path / "a", progress=False, report=SMALL_REPORT)
    run_discovery(handle, _config(steps=3), tmp_path / "b", progress=False, report=SMALL_REPORT)
    with pytest.raises(UserError, match="resume"):
        run_discovery(handle, _config(steps=6), tmp_path / "b", progress=False)
    with pytest.raises(UserError, match="different settings"):
        run_discovery(handle, _config(steps=6, lr=0.5), tmp_path / "b", resume=True, progress=False)
    run_discovery(handle, _config(steps=6), tmp_path / "b", resume=True, progress=False,
                  report=SMALL_REPORT)
    a = (tmp_path / "a" / "directions.safetensors").read_bytes()
    b = (tmp_path / "b" / "directions.safetensors").read_bytes()
    assert a == b
    run_discovery(handle, _config(steps=6, checkpoint_every=0), tmp_path / "c", progress=False,  # only at the end
                  report=SMALL_REPORT)
    straight, only_at_end = (load_directions(tmp_path / run / "directions.safetensors") for run in ("a", "c"))
    assert torch.equal(straight.directions, only_at_end.directions)
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()}
    for other in (_config(method="sefa"), _config(steps=6, lr=0.5)):  # another run's folder is left alone
        with pytest.raises(UserError, match="holds another discovery run"):
            run_discovery(handle, other, tmp_path / "a", progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()} == before
    run_discovery(handle, _config(method="sefa"), tmp_path / "s", progress=False, report=SMALL_REPORT)
    run_discovery(handle, _config(method="sefa"), tmp_path / "s", progress=False,  # the same closed-form run again
                  report=SMALL_REPORT)
    with pytest.raises(UserError, match="holds another discovery run"):
        run_discovery(handle, _config(method="ganspace"), tmp_path / "s", progress=False)


def test_ctrl_c_stops_at_a_step_boundary_and_resume_matches(tmp_path, monkeypatch):
    handle = _handle()
    run_discovery(handle, _config(steps=6), tmp_path / "a", progress=False, report=SMALL_REPORT)
    step = DirectionTrainer.train_step

    def step_with_ctrl_c(self):
        if self.step == 3:  # Ctrl-C during the 4th step: it finishes, the run stops at step 4
            signal.raise_signal(signal.SIGINT)
        return step(self)

    monkeypatch.setattr(DirectionTrainer, "train_step", step_with_ctrl_c)
    with pytest.raises(Interrupted, match="stopped at step 4 of 6"):
        run_discovery(handle, _config(steps=6), tmp_path / "b", progress=False, report=SMALL_REPORT)
    monkeypatch.setattr(DirectionTrainer, "train_step", step)
    run_discovery(handle, _config(steps=6), tmp_path / "b", resume=True, progress=False,
                  report=SMALL_REPORT)
    a = (tmp_path / "a" / "directions.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "directions.safetensors").read_bytes()


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown direction objective"):
        build_term("nonsense")
    with pytest.raises(UserError):
        DirectionTrainer(_handle(), _config(method="reconstructor", regs=["reconstructor"]))
    with pytest.raises(UserError, match="sefa"):
        run_discovery(_handle(), _config(method="sefa", space="z"), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(UserError, match="checkpoint"):
        DirectionTrainer(_handle(), _config()).load_checkpoint(__file__)
    for bad, message in [({"lr": float("nan")}, "lr: nan is not a finite number"),
                         ({"lr": -1.0}, r"lr: -1 is not in \(0"),
                         ({"truncation_psi": float("inf")}, "truncation_psi: inf is not a finite"),
                         ({"steps": 0}, r"steps: 0 is not in \[1,"),
                         ({"checkpoint_every": -1}, r"checkpoint_every: -1 is not in \[0,"),
                         ({"stats_samples": 1}, r"stats_samples: 1 is not in \[2,"),  # σ of one sample: NaN
                         ({"shift_max": 0.0, "shift_min": 0.0}, "MAX > 0")]:  # no shift: nothing to learn
        with pytest.raises(UserError, match=message):  # a NaN lr reached torch.optim.Adam: a traceback
            _config(**bad)
