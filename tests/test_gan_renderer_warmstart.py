"""Renderer warm start (pretrain-gan): the latent → factor map is exactly uniform and a function of what the
generator sees, the pretraining learns, resumes bit for bit, and train-gan --init-from starts from it."""

import copy
import signal

import numpy as np
import pytest
import torch
from checkpoint_support import nested_equal
from scipy.special import ndtr
from scipy.stats import chisquare

from latentdirs.cli import main
from latentdirs.data import get_dataset
from latentdirs.errors import UserError
from latentdirs.gan.training import GANTrainConfig, train_gan
from latentdirs.gan.training.factor_latents import factor_uniforms, factors_from_latents
from latentdirs.gan.training.loop import CHECKPOINT, build_state
from latentdirs.gan.training.renderer_warmstart import (
    PretrainConfig,
    build_pretrain_state,
    pretrain_gan,
    pretrain_step,
    reconstruction_error,
    render_targets,
)
from latentdirs.interrupt import Interrupted
from latentdirs.io import torch_load, torch_save

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ELLIPSES = (8, 4, 6, 4, 10, 16, 16)
NET = dict(resolution=16, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8)
TINY = dict(dataset="ellipses", **NET, batch=4, classifier="none", snapshot_kimg=0.008, sample_kimg=0.008,
            quality_kimg=0.008, device="cpu", seed=3)


def _p_values(factors: np.ndarray, sizes) -> list[float]:
    return [chisquare(np.bincount(factors[:, k], minlength=n)).pvalue for k, n in enumerate(sizes)]


def test_factor_map_is_exactly_uniform_deterministic_and_reads_the_normalized_latent():
    """200 000 draws of z ~ N(0, I_8): every factor's counts pass a chi-square test of uniformity (p > 0.001), while
    the Gaussian CDF of the normalized coordinate, the map one would write first, fails it (the test has power);
    the map is deterministic and invariant to the latent's scale (StyleGAN2's mapping sees z / rms(z) only)."""
    z = np.random.RandomState(0).randn(200_000, 8)
    factors = factors_from_latents(z, ELLIPSES)
    assert factors.dtype == np.int64 and (factors >= 0).all() and (factors < np.array(ELLIPSES)).all()
    assert min(_p_values(factors, ELLIPSES)) > 1e-3
    normalized = z[:, :7] / np.sqrt(np.square(z).mean(axis=1, keepdims=True))
    naive = np.minimum(np.floor(ndtr(normalized) * np.array(ELLIPSES)).astype(np.int64), np.array(ELLIPSES) - 1)
    assert max(_p_values(naive, ELLIPSES)) < 1e-6
    np.testing.assert_array_equal(factors_from_latents(z, ELLIPSES), factors)
    np.testing.assert_array_equal(factors_from_latents(z * 3.7, ELLIPSES), factors)
    # the uniforms themselves: exact quantiles (Kolmogorov distance of 200 000 draws ~ 1/sqrt(n))
    u = np.sort(factor_uniforms(z, 7), axis=0)
    ecdf = (np.arange(1, len(u) + 1) / len(u))[:, None]
    assert np.abs(u - ecdf).max() < 0.005


def test_pretraining_lowers_the_reconstruction_error():
    """80 steps of batch 8 on the ellipses (16 px): the mean |G(z) − x(z)| on 64 fixed latents falls below 0.3 × its
    value at step 0 and below 0.8 × the error of the best image that ignores z (the targets' per-pixel median), so G
    draws what z codes (seeds 3, 4, 5 measured: 0.95 / 0.77 / 1.00 → 0.16 / 0.18 / 0.17; the median image: 0.27)."""
    cfg = PretrainConfig(**{**TINY, "batch": 8})
    data = get_dataset("ellipses")
    s = build_pretrain_state(cfg, 3, torch.device("cpu"))
    z = torch.randn([64, cfg.z_dim], generator=torch.Generator().manual_seed(11))
    targets = render_targets(data, z, cfg.resolution)
    constant = float((targets - targets.median(dim=0).values).abs().mean())
    before = reconstruction_error(copy.deepcopy(s.G).eval(), data, z)
    for _ in range(80):
        pretrain_step(cfg, s, data)
    after = reconstruction_error(copy.deepcopy(s.G).eval(), data, z)
    assert after < 0.3 * before and after < 0.8 * constant, (before, after, constant)


def test_resume_is_bit_identical(tmp_path):
    straight = pretrain_gan(PretrainConfig(**TINY, kimg=0.016), tmp_path / "a", progress=False)
    assert straight["finished"] and straight["kimg"] == 0.016
    pretrain_gan(PretrainConfig(**TINY, kimg=0.008), tmp_path / "b", progress=False)
    pretrain_gan(PretrainConfig(**TINY, kimg=0.016), tmp_path / "b", resume=True, progress=False)
    a, b = (torch_load(tmp_path / run / CHECKPOINT) for run in ("a", "b"))
    for key in ("G", "G_ema", "opt", "gen", "cur_nimg", "batch_idx", "generator_kwargs"):
        assert nested_equal(a[key], b[key]), key
    assert [r["loss_l2"] for r in a["history"]] == [r["loss_l2"] for r in b["history"]]
    assert (tmp_path / "b" / "samples" / "targets.png").is_file()
    assert (tmp_path / "b" / "snapshots" / "network-snapshot-000000_016.json").is_file()
    with pytest.raises(UserError, match="settings differ.*batch"):
        pretrain_gan(PretrainConfig(**{**TINY, "batch": 8}, kimg=0.024), tmp_path / "b", resume=True, progress=False)
    with pytest.raises(UserError, match="already holds a training run"):
        pretrain_gan(PretrainConfig(**TINY, kimg=0.024), tmp_path / "b", progress=False)


def test_resume_at_a_lower_lr_keeps_adams_moments_and_records_the_change(tmp_path):
    pretrain_gan(PretrainConfig(**TINY, kimg=0.008), tmp_path / "a", progress=False)
    before = torch_load(tmp_path / "a" / CHECKPOINT)
    pretrain_gan(PretrainConfig(**TINY, kimg=0.012, lr=0.004), tmp_path / "a", resume=True, progress=False)
    after = torch_load(tmp_path / "a" / CHECKPOINT)
    groups = after["opt"]["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([0.4, 0.004])  # mapping at lr / 0.01, synthesis at lr
    assert after["config"]["lr_schedule"] == [[0.0, 0.02], [0.008, 0.004]]
    assert [r["lr"] for r in after["history"]] == [0.02, 0.004]
    # the moments carried over: one step from the saved moments at the new rate, not from zero
    assert int(after["opt"]["state"][0]["step"]) == int(before["opt"]["state"][0]["step"]) + 1
    # resuming at the same rate adds no change; another rate adds a second one
    pretrain_gan(PretrainConfig(**TINY, kimg=0.016, lr=0.004), tmp_path / "a", resume=True, progress=False)
    pretrain_gan(PretrainConfig(**TINY, kimg=0.020, lr=0.001), tmp_path / "a", resume=True, progress=False)
    assert torch_load(tmp_path / "a" / CHECKPOINT)["config"]["lr_schedule"] == [[0.0, 0.02], [0.008, 0.004],
                                                                          [0.016, 0.001]]


def test_ctrl_c_saves_at_a_step_boundary_and_resumes_bit_identically(tmp_path, monkeypatch):
    from latentdirs.gan.training import renderer_warmstart

    pretrain_gan(PretrainConfig(**TINY, kimg=0.016), tmp_path / "a", progress=False)
    calls = []

    def render_with_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # the third step (calls: the targets grid, steps 1-2, the error on the grid at 0.008)
            signal.raise_signal(signal.SIGINT)
        return render(*args, **kwargs)

    render = renderer_warmstart.render_targets
    monkeypatch.setattr(renderer_warmstart, "render_targets", render_with_ctrl_c)
    with pytest.raises(Interrupted, match="stopped at kimg 0.012 of 0.016"):
        pretrain_gan(PretrainConfig(**TINY, kimg=0.016), tmp_path / "b", progress=False)
    assert torch_load(tmp_path / "b" / CHECKPOINT)["cur_nimg"] == 12
    monkeypatch.setattr(renderer_warmstart, "render_targets", render)
    assert pretrain_gan(PretrainConfig(**TINY, kimg=0.016), tmp_path / "b", resume=True, progress=False)["finished"]
    a, b = (torch_load(tmp_path / run / CHECKPOINT) for run in ("a", "b"))
    for key in ("G", "G_ema", "opt", "gen", "cur_nimg", "batch_idx"):
        assert nested_equal(a[key], b[key]), key


def test_train_gan_init_from_a_pretraining_takes_g_and_keeps_a_fresh_d(tmp_path):
    pretrain_gan(PretrainConfig(**TINY, kimg=0.008), tmp_path / "pre", progress=False)
    source = torch_load(tmp_path / "pre" / CHECKPOINT)
    gan = GANTrainConfig(**{**TINY, "seed": 5, "g_lr": 0.0005, "d_lr": 0.0005, "style_mixing_prob": 0.0},
                         kimg=0.004, init_from=str(tmp_path / "pre"))
    train_gan(gan, tmp_path / "gan", progress=False)
    tuned = torch_load(tmp_path / "gan" / CHECKPOINT)
    fresh = build_state(gan, 3, torch.device("cpu"))

    def distance(a, b):
        return max(float((a[k] - b[k]).abs().max()) for k in b if b[k].is_floating_point())

    for name in ("G", "G_ema"):  # one step away from the pretrained networks, far from a fresh G
        assert distance(tuned[name], source[name]) < 0.1 * distance(getattr(fresh, name).state_dict(), source[name])
    d_fresh = fresh.D.state_dict()  # D: one step away from its fresh initialization by this run's seed
    other_seed = build_state(GANTrainConfig(**{**TINY, "seed": 6}), 3, torch.device("cpu")).D.state_dict()
    assert distance(tuned["D"], d_fresh) < 0.1 * distance(other_seed, d_fresh)
    other = GANTrainConfig(**{**TINY, "channel_max": 16}, kimg=0.004, init_from=str(tmp_path / "pre"))
    with pytest.raises(UserError, match="init-from.*generator"):
        train_gan(other, tmp_path / "bad", progress=False)


def _one_error_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exc.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "shapes"], "unknown dataset 'shapes'"),
    (["--dataset", "3dshapes"], "read from a file"),
    (["--dataset", "ellipses", "--z-dim", "6"], "--z-dim 6 is too small for dataset 'ellipses'"),
    (["--dataset", "ellipses", "--resolution", "128", "--channel-base", "256"], "exceeds the dataset's 64 px"),
    (["--dataset", "ellipses", "--channel-base", "8"], "--channel-base must be ≥ the resolution"),
])
def test_bad_settings_are_one_line(tmp_path, capsys, extra, message):
    small = ["--resolution", "16", "--z-dim", "8", "--w-dim", "8", "--channel-base", "64", "--channel-max", "8"]
    line = _one_error_line(capsys, ["pretrain-gan", "--out", str(tmp_path / "p"), *small, "--kimg", "0.004",
                                    "--device", "cpu", "--classifier", "none", "--quiet", *extra])
    assert message in line, line
    assert not (tmp_path / "p").exists()


def test_cli_pretrains_resumes_and_refuses_other_runs(tmp_path, capsys):
    net = ["--dataset", "ellipses", "--resolution", "16", "--z-dim", "8", "--w-dim", "8", "--map-layers", "1",
           "--channel-base", "64", "--channel-max", "8", "--batch", "4"]
    run = str(tmp_path / "p")
    main(["pretrain-gan", "--out", run, *net, "--kimg", "0.004", "--device", "cpu", "--classifier", "none", "--quiet"])
    assert "pretrain-gan finished: kimg 0.004 of 0.004" in capsys.readouterr().out
    main(["pretrain-gan", "--out", run, "--resume", "--kimg", "0.008", "--quiet"])
    assert "kimg 0.008 of 0.008" in capsys.readouterr().out
    assert "--resume: batch differ" in _one_error_line(capsys, ["pretrain-gan", "--out", run, "--resume", "--batch",
                                                                "8"])
    train_gan(GANTrainConfig(**{**TINY, "kimg": 0.004}), tmp_path / "g", progress=False)
    assert "holds no pretrain-gan run" in _one_error_line(capsys, ["pretrain-gan", "--out", str(tmp_path / "g"),
                                                                   "--resume"])
    torch_save(tmp_path / "vae.pt", {"format": "latentdirs-vae-checkpoint", "model": {}})
    line = _one_error_line(capsys, ["train-gan", "--out", str(tmp_path / "g2"), "--init-from", str(tmp_path / "p"),
                                    "--dataset", "ellipses", "--resolution", "16", "--z-dim", "8", "--w-dim", "8",
                                    "--map-layers", "2", "--channel-base", "64", "--channel-max", "8", "--batch", "4",
                                    "--kimg", "0.004", "--classifier", "none", "--quiet"])
    assert "its generator" in line
    line = _one_error_line(capsys, ["train-gan", "--out", str(tmp_path / "g3"), "--init-from",
                                    str(tmp_path / "vae.pt"), "--kimg", "0.004", "--quiet"])
    assert "not a train-gan checkpoint, nor a pretrain-gan one" in line
