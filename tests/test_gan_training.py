"""StyleGAN2 trainer on a tiny config: it trains, resumes bit for bit, and its snapshots load."""

import json
import signal

import numpy as np
import pytest
import torch
from checkpoint_support import nested_equal

from latentdirs.cli import main
from latentdirs.errors import UserError
from latentdirs.gan import load_generator
from latentdirs.gan.training import GANTrainConfig, train_gan
from latentdirs.gan.training.ema import ema_beta
from latentdirs.gan.training.loop import CHECKPOINT, build_state, lazy_adam
from latentdirs.gan.training.run import kimg_label
from latentdirs.interrupt import Interrupted
from latentdirs.io import torch_load, torch_save

TINY = dict(dataset="dsprites", resolution=16, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8,
            batch=4, r1_interval=2, pl_weight=1.0, pl_interval=2, style_mixing_prob=0.5, classifier="none",
            snapshot_kimg=0.008, sample_kimg=0.008, quality_kimg=0.008, device="cpu", seed=3)


def test_path_length_penalty_follows_the_reference_formula():
    """StyleGAN2-ADA: pl_lengths = sqrt(mean_ws(sum_w (Jᵀy)²)), pl_mean = lerp(pl_mean, mean(pl_lengths), decay)
    (not detached), penalty = (pl_lengths − pl_mean)²; checked value and G gradients against that formula."""
    from latentdirs.gan import Generator
    from latentdirs.gan.training.loss import path_length_penalty, run_generator

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 32, "channel_max": 8})
    z, pl_mean, decay = torch.randn(4, 8), torch.tensor(0.3), 0.25
    penalty, new_mean = path_length_penalty(G, z, None, pl_mean, 0.0, torch.Generator().manual_seed(5), decay)
    ours = torch.autograd.grad(penalty.sum(), list(G.parameters()), allow_unused=True)
    gen = torch.Generator().manual_seed(5)
    images, ws = run_generator(G, z, None, 0.0, gen)
    noise = torch.randn(images.shape, generator=gen) / (images.shape[2] * images.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean = pl_mean + decay * (lengths.mean() - pl_mean)
    reference = (lengths - mean).square()
    expected = torch.autograd.grad(reference.sum(), list(G.parameters()), allow_unused=True)
    torch.testing.assert_close(penalty, reference)
    assert not new_mean.requires_grad and new_mean.item() == pytest.approx(mean.item())
    for a, b in zip(ours, expected, strict=True):
        assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, atol=1e-7, rtol=1e-5))


def test_lazy_regularization_corrections_and_ema_schedule():
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = lazy_adam(params, 0.0025, (0.0, 0.99), 16)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert lazy_adam(params, 0.0025, (0.0, 0.99), None).param_groups[0]["lr"] == 0.0025
    # half-life: after ema_nimg images the old weights keep half their weight
    assert ema_beta(10**9, 32, 10.0, 0.05) ** (10_000 / 32) == pytest.approx(0.5)
    assert ema_beta(1000, 32, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 50))  # ramp-up: 0.05 · 1000 images
    assert GANTrainConfig(resolution=64, batch=32).gamma == pytest.approx(0.0002 * 64**2 / 32)


def test_resume_is_bit_identical_and_snapshots_load(tmp_path):
    straight = train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "a", progress=False)
    assert straight["finished"] and straight["batch_idx"] == 4
    train_gan(GANTrainConfig(**TINY, kimg=0.008), tmp_path / "b", progress=False)
    resumed = train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "b", resume=True, progress=False)
    assert resumed["batch_idx"] == 4
    a = torch_load(tmp_path / "a" / CHECKPOINT)
    b = torch_load(tmp_path / "b" / CHECKPOINT)
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "gen", "data_rs", "pl_mean", "cur_nimg", "batch_idx"):
        assert nested_equal(a[key], b[key]), key
    # training moved the weights, and the losses were logged
    history = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"loss_G", "loss_D", "r1_penalty", "pl_penalty"} <= set(history[-1])
    assert all(np.isfinite(v) for v in history[-1].values() if isinstance(v, float))

    # every 8 images (an interval below 1 kimg): one snapshot each, none overwritten, in training order by name
    names = sorted(p.name for p in (tmp_path / "a" / "snapshots").glob("*.json"))
    assert names == ["network-snapshot-000000_008.json", "network-snapshot-000000_016.json"]
    snapshot = tmp_path / "a" / "snapshots" / names[-1]
    G = load_generator(snapshot)
    assert G.img_resolution == 16 and G.z_dim == 8
    G_ema_state = a["G_ema"]
    for name, value in G.state_dict().items():
        assert torch.equal(value, G_ema_state[name]), name
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    assert G(z, None, noise_mode="const").shape == (2, 1, 16, 16)
    assert (tmp_path / "a" / "samples" / "reals.png").is_file()
    assert {p.name for p in (tmp_path / "a" / "samples").glob("fakes*.png")} == {
        "fakes000000.png", "fakes000000_008.png", "fakes000000_016.png"}


def test_kimg_labels_sort_in_training_order():
    labels = [kimg_label(n) for n in (0, 512, 1000, 1504, 2000, 34000, 123456)]
    assert labels == ["000000", "000000_512", "000001", "000001_504", "000002", "000034", "000123_456"]
    names = [f"network-snapshot-{label}.json" for label in labels]
    assert sorted(labels) == labels and sorted(names) == names  # as a directory listing sorts the files


def test_quality_record_has_iou_and_coverage(tmp_path, capsys):
    """With the bundled dSprites classifier the quality record holds the IoU and each factor's coverage TV; the
    progress bar's final line (off a terminal) shows that last reading, not the one before."""
    config = GANTrainConfig(**{**TINY, "classifier": "auto", "quality_samples": 16}, kimg=0.004)
    train_gan(config, tmp_path / "q", progress=True)
    quality = json.loads((tmp_path / "q" / "metrics.json").read_text())[-1]["quality"]
    final = capsys.readouterr().err.strip().splitlines()[-1]
    assert "100%" in final and f"iou {quality['mean']:.3f} worst TV" in final, final
    assert quality["metric"] == "iou" and quality["num_images"] == 16 and 0 <= quality["mean"] <= 1
    coverage = quality["coverage"]
    assert set(coverage["tv_to_real"]) == {"shape", "scale", "orientation", "posX", "posY"}
    assert 0 <= coverage["worst_tv"] <= 1 and coverage["worst_tv"] == coverage["tv_to_real"][coverage["worst_factor"]]


def test_a_second_ctrl_c_during_the_final_pictures_keeps_the_checkpoint(tmp_path, monkeypatch):
    from latentdirs.gan.training import loop

    calls = []

    def real_batch_with_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            signal.raise_signal(signal.SIGINT)
        return real_batch(*args, **kwargs)

    def impatient(self):  # the user presses Ctrl-C again while the stop renders its sample grid
        if calls and len(calls) >= 4:
            raise KeyboardInterrupt
        return save_samples(self)

    real_batch, save_samples = loop.real_batch, loop.GANTrainer.save_samples
    monkeypatch.setattr(loop, "real_batch", real_batch_with_ctrl_c)
    monkeypatch.setattr(loop.GANTrainer, "save_samples", impatient)
    with pytest.raises(KeyboardInterrupt):
        train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "b", progress=False)
    assert torch_load(tmp_path / "b" / CHECKPOINT)["cur_nimg"] == 12


def test_ctrl_c_saves_at_a_step_boundary_and_resumes_bit_identically(tmp_path, monkeypatch):
    from latentdirs.gan.training import loop

    train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "a", progress=False)
    calls = []

    def real_batch_with_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # Ctrl-C during the third step (images 8-12; the first call draws the reals grid)
            signal.raise_signal(signal.SIGINT)
        return real_batch(*args, **kwargs)

    real_batch = loop.real_batch
    monkeypatch.setattr(loop, "real_batch", real_batch_with_ctrl_c)
    with pytest.raises(Interrupted, match="stopped at kimg 0.012 of 0.016"):
        train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "b", progress=False)
    assert torch_load(tmp_path / "b" / CHECKPOINT)["cur_nimg"] == 12  # saved after the step, not periodically
    monkeypatch.setattr(loop, "real_batch", real_batch)
    resumed = train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "b", resume=True, progress=False)
    assert resumed["finished"] and resumed["batch_idx"] == 4
    a, b = torch_load(tmp_path / "a" / CHECKPOINT), torch_load(tmp_path / "b" / CHECKPOINT)
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "gen", "data_rs", "pl_mean"):
        assert nested_equal(a[key], b[key]), key


def test_refuses_to_overwrite_or_resume_with_other_settings(tmp_path):
    train_gan(GANTrainConfig(**TINY, kimg=0.004), tmp_path / "r", progress=False)
    with pytest.raises(UserError, match="--resume"):
        train_gan(GANTrainConfig(**TINY, kimg=0.008), tmp_path / "r", progress=False)
    other = {**TINY, "g_lr": 0.001}
    with pytest.raises(UserError, match="g_lr"):
        train_gan(GANTrainConfig(**other, kimg=0.008), tmp_path / "r", resume=True, progress=False)
    with pytest.raises(UserError, match="multiple"):
        GANTrainConfig(batch=6)
    vae_run = tmp_path / "vae_run"  # another command's run folder is never written into
    vae_run.mkdir()
    (vae_run / "config.json").write_text('{"objective": {"name": "beta-vae"}}')
    with pytest.raises(UserError, match="not an empty directory"):
        train_gan(GANTrainConfig(**TINY, kimg=0.004), vae_run, progress=False)
    assert [p.name for p in vae_run.iterdir()] == ["config.json"]


def test_init_from_copies_the_networks_and_refuses_another_architecture(tmp_path):
    train_gan(GANTrainConfig(**TINY, kimg=0.004), tmp_path / "src", progress=False)
    source = torch_load(tmp_path / "src" / CHECKPOINT, "checkpoint")
    tuned = GANTrainConfig(**{**TINY, "g_lr": 0.0005, "seed": 4}, kimg=0.004, init_from=str(tmp_path / "src"))
    train_gan(tuned, tmp_path / "ft", progress=False)
    tuned_ckpt = torch_load(tmp_path / "ft" / CHECKPOINT, "checkpoint")
    fresh = build_state(tuned, 1, torch.device("cpu"))
    assert tuned_ckpt["cur_nimg"] == TINY["batch"]  # one step of a new run: counters start fresh
    assert tuned_ckpt["opt_G"]["param_groups"][0]["lr"] == pytest.approx(0.0005 * 2 / 3)  # lazy PL, interval 2
    for name in ("G", "D", "G_ema"):
        def distance(weights, name=name):
            return max(float((weights[k] - source[name][k]).abs().max()) for k in source[name])
        assert distance(tuned_ckpt[name]) < 0.1 * distance(getattr(fresh, name).state_dict())
    # G_ema is averaged from the loaded one, not replaced by G at the first step (no ramp-up on a warm start)
    beta = 0.5 ** (TINY["batch"] / (tuned.ema_half_life_kimg * 1000))
    for key, old in source["G_ema"].items():
        if old.is_floating_point() and key in dict(fresh.G.named_parameters()):
            expected = tuned_ckpt["G"][key].lerp(old, beta)
            assert torch.allclose(tuned_ckpt["G_ema"][key], expected, atol=1e-6), key
    other = GANTrainConfig(**{**TINY, "channel_max": 16}, kimg=0.004, init_from=str(tmp_path / "src"))
    with pytest.raises(UserError, match="init-from.*generator"):
        train_gan(other, tmp_path / "bad", progress=False)
    torch_save(tmp_path / "vae.pt", {"format": "latentdirs-vae-checkpoint", "model": {}})
    wrong = GANTrainConfig(**TINY, kimg=0.004, init_from=str(tmp_path / "vae.pt"))
    with pytest.raises(UserError, match="not a train-gan checkpoint"):
        train_gan(wrong, tmp_path / "bad2", progress=False)


def test_cli_trains_and_resumes(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train-gan", "--out", str(out), "--resolution", "16", "--z-dim", "8", "--w-dim", "8", "--map-layers", "1",
            "--channel-base", "64", "--channel-max", "8", "--batch", "4", "--kimg", "0.004", "--classifier", "none",
            "--d-channel-base", "128", "--device", "cpu", "--quiet"]
    main(args)
    config = json.loads((out / "config.json").read_text())
    assert config["batch"] == 4 and config["d_channel_base"] == 128
    networks = torch_load(out / CHECKPOINT)  # at 16 px: D min(128 // 16, 8) = 8 channels, G min(64 // 16, 8) = 4
    assert networks["D"]["b16.fromrgb.weight"].shape[0] == 8
    assert networks["G"]["synthesis.b16.conv1.weight"].shape[0] == 4
    capsys.readouterr()
    main(["train-gan", "--out", str(out), "--resume", "--kimg", "0.008", "--quiet"])
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and printed.startswith("train-gan finished: kimg 0.008 of 0.008")  # was ~150
    assert json.loads((out / "summary.json").read_text())["finished"] is True  # lines of JSON; the record stays here
    assert torch_load(out / CHECKPOINT)["cur_nimg"] == 8
    with pytest.raises(SystemExit) as exc:
        main(["train-gan", "--out", str(out), "--resume", "--batch", "8", "--quiet"])
    assert exc.value.code == 2
    assert "batch" in capsys.readouterr().err
    foreign = tmp_path / "discover_run"  # config.json and checkpoint.pt of another command
    foreign.mkdir()
    (foreign / "config.json").write_text('{"discovery": {"method": "topdis"}}')
    (foreign / "checkpoint.pt").write_bytes(b"x")
    for folder, message in ((foreign, "is another command's"), (tmp_path / "none", "holds no train-gan run")):
        with pytest.raises(SystemExit) as exc:
            main(["train-gan", "--out", str(folder), "--resume", "--quiet"])
        assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("bad, message", [({"channel_base": 8}, "--channel-base must be ≥ the resolution 16"),
                                          ({"d_channel_base": -5}, r"--d-channel-base: -5 is not in 0 or \[1,"),
                                          ({"d_channel_max": -1}, "--d-channel-max"),
                                          ({"mbstd_group": 0}, r"--mbstd-group: 0 is not in \[1,"),
                                          ({"mapping_layers": 0}, r"--map-layers: 0 is not in \[1, 64\]"),
                                          ({"z_dim": 10**8}, r"--z-dim: 100000000 is not in \[1, 4096\]"),
                                          ({"channel_base": 10**9}, "--channel-base: 1000000000 is not in"),
                                          ({"resolution": 2**20}, "--resolution: 1048576 is not in"),
                                          ({"z_dim": "many"}, "--z-dim: 'many' is not a number"),
                                          ({"betas": [0.0]}, "betas must be two numbers"),
                                          ({"device": "xla"}, "unknown device 'xla'")])
def test_network_sizes_are_checked(bad, message):
    with pytest.raises(UserError, match=message):
        GANTrainConfig(**{**TINY, **bad})


@pytest.mark.parametrize("bad, message", [({"g_lr": float("nan")}, "--g-lr: nan is not a finite number"),
                                          ({"g_lr": 1e30}, r"--g-lr: 1e\+30 is not in \(0, 1\]"),
                                          ({"d_lr": 0.0}, r"--d-lr: 0 is not in \(0, 1\]"),
                                          ({"r1_gamma": float("nan")}, "--gamma: nan is not a finite number"),
                                          ({"ema_kimg": -1.0}, "--ema: -1 is not in"),
                                          ({"pl_weight": float("inf")}, "--pl-weight: inf is not a finite"),
                                          ({"kimg": float("nan")}, "--kimg: nan is not a finite number")])
def test_rates_and_lengths_are_checked(bad, message):  # NaN passed the old `<= 0` checks and crashed later
    with pytest.raises(UserError, match=message):
        GANTrainConfig(**{**TINY, **bad})
    GANTrainConfig(**{**TINY, "r1_gamma": 0.0, "ema_kimg": 0.0})  # zero weights stay allowed


@pytest.mark.parametrize("breaks", ["loss", "weights"])
def test_a_run_that_diverges_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, breaks):
    """A NaN loss (e.g. --g-lr far too high) or weights that blow up stop the run before anything of it is saved;
    the checkpoint of the last snapshot (8 images, 2 steps) stays loadable and finite."""
    from latentdirs.gan.training import loop

    step = loop._step
    calls = []

    def diverging(cfg, s, real, shard=None):
        stats = step(cfg, s, real, shard)
        calls.append(1)
        if len(calls) == 3:
            if breaks == "loss":
                stats["loss_G"] = float("nan")
            else:
                with torch.no_grad():
                    next(s.D.parameters()).fill_(float("inf"))
        return stats

    monkeypatch.setattr(loop, "_step", diverging)
    with pytest.raises(UserError, match=r"training diverged at kimg 0\.012 .*the last good checkpoint"):
        train_gan(GANTrainConfig(**TINY, kimg=0.016), tmp_path / "r", progress=False)
    kept = torch_load(tmp_path / "r" / CHECKPOINT)
    assert kept["cur_nimg"] == 8 and all(torch.isfinite(t).all() for t in kept["D"].values())
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").glob("*.json")) == ["network-snapshot-000000_008.json"]
