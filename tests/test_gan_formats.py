"""rosinality checkpoints and our safetensors + JSON format; the generate command."""

import argparse
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from latentdirs.cli import main
from latentdirs.commands.generate import parse_seeds
from latentdirs.errors import UserError
from latentdirs.gan import Generator, detect_format, generator_fingerprint, load_generator, save_generator
from latentdirs.gan.resample import setup_filter


def rosinality_like_generator(seed=0, size=16):
    """Our generator in a configuration rosinality's code can express (skip, no clamp, 3 channels)."""
    torch.manual_seed(seed)
    g = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=size, img_channels=3,
                  mapping_kwargs={"num_layers": 3},
                  synthesis_kwargs={"channel_base": 128, "channel_max": 16, "architecture": "skip"})
    with torch.no_grad():  # move every tensor away from init, except the fixed FIR filters
        for name, tensor in (*g.named_parameters(), *g.named_buffers()):
            if not name.endswith("resample_filter"):
                tensor.add_(0.1 * torch.randn_like(tensor))
    return g.eval()


def to_rosinality(g):
    """rosinality/stylegan2-pytorch ``g_ema`` state dict written by hand from rosinality's model layout."""
    sd = g.state_dict()
    out = {}
    for k in range(3):
        out[f"style.{k + 1}.weight"] = sd[f"mapping.fc{k}.weight"]
        out[f"style.{k + 1}.bias"] = sd[f"mapping.fc{k}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]
    convs = [("conv1", "b4.conv1")]
    rgbs = [("to_rgb1", "b4.torgb")]
    for i, res in enumerate(g.synthesis.block_resolutions[1:]):
        convs += [(f"convs.{2 * i}", f"b{res}.conv0"), (f"convs.{2 * i + 1}", f"b{res}.conv1")]
        rgbs.append((f"to_rgbs.{i}", f"b{res}.torgb"))
        out[f"convs.{2 * i}.conv.blur.kernel"] = setup_filter() * 4
        out[f"to_rgbs.{i}.upsample.kernel"] = setup_filter() * 4
    for j, (ros, ours) in enumerate(convs):
        out[f"{ros}.conv.weight"] = sd[f"synthesis.{ours}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = sd[f"synthesis.{ours}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = sd[f"synthesis.{ours}.affine.bias"]
        out[f"{ros}.noise.weight"] = sd[f"synthesis.{ours}.noise_strength"].reshape(1)
        out[f"{ros}.activate.bias"] = sd[f"synthesis.{ours}.bias"]
        out[f"noises.noise_{j}"] = sd[f"synthesis.{ours}.noise_const"][None, None]
    for ros, ours in rgbs:
        out[f"{ros}.conv.weight"] = sd[f"synthesis.{ours}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = sd[f"synthesis.{ours}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = sd[f"synthesis.{ours}.affine.bias"]
        out[f"{ros}.bias"] = sd[f"synthesis.{ours}.bias"].reshape(1, -1, 1, 1)
    return {k: v.clone() for k, v in out.items()}


@torch.no_grad()
def render(g, n=3):
    z = torch.randn(n, g.z_dim, generator=torch.Generator().manual_seed(5))
    return g(z, truncation_psi=0.6, noise_mode="const")


@pytest.mark.parametrize("legacy_format", [False, True])
def test_rosinality_round_trip(tmp_path, legacy_format):
    g = rosinality_like_generator()
    path = tmp_path / "550000.pt"
    ckpt = {"g_ema": to_rosinality(g), "latent_avg": g.mapping.w_avg.clone(),
            "args": argparse.Namespace(size=16, latent=16, n_mlp=3, channel_multiplier=2)}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy_format)
    assert detect_format(path) == "torch-checkpoint"
    loaded = load_generator(path)
    assert loaded.init_kwargs["synthesis_kwargs"]["channel_base"] == 128
    assert torch.equal(render(loaded), render(g))
    assert generator_fingerprint(loaded) == generator_fingerprint(g)
    main(["convert", str(path), str(tmp_path / "ros.safetensors")])
    again = load_generator(tmp_path / "ros.safetensors")
    assert torch.equal(render(again), render(loaded))


def test_rosinality_without_latent_avg_estimates_it(tmp_path):
    g = rosinality_like_generator(1)
    path = tmp_path / "train.pt"
    torch.save({"g_ema": to_rosinality(g)}, path)
    loaded = load_generator(path)
    assert any("estimated" in note for note in loaded.source["notes"])
    z = torch.randn(4096, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.mapping.w_avg, g.z_to_w(z).mean(0).detach())


def test_rosinality_bad_checkpoints(tmp_path):
    g = rosinality_like_generator(2)
    sd = to_rosinality(g)
    cases = {
        "custom_blur.pt": {"g_ema": {**sd, "convs.0.conv.blur.kernel": torch.ones(4, 4)}},
        "missing.pt": {"g_ema": {k: v for k, v in sd.items() if k != "convs.1.noise.weight"}},
        "other.pt": {"model": {"fc.weight": torch.zeros(2, 2)}},
    }
    messages = {"custom_blur.pt": "blur kernel", "missing.pt": "lack convs.1.noise.weight",
                "other.pt": "not a rosinality StyleGAN2"}
    for name, ckpt in cases.items():
        torch.save(ckpt, tmp_path / name)
        with pytest.raises(UserError, match=messages[name]):
            load_generator(tmp_path / name)


class Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_checkpoint_with_payload_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "args": Evil(marker)}, path)
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint of plain tensors"):
        load_generator(path)
    assert not marker.exists()


def test_native_format_checks_hash_and_config(tmp_path):
    g = rosinality_like_generator(3)
    config_path = save_generator(g, tmp_path / "gen", provenance={"note": "test"})
    weights = tmp_path / "gen.safetensors"
    assert config_path == tmp_path / "gen.json" and weights.exists()
    config = json.loads(config_path.read_text())
    assert config["init_kwargs"] == g.init_kwargs and config["provenance"] == {"note": "test"}
    for name in ("gen", "gen.json", "gen.safetensors"):
        assert torch.equal(render(load_generator(tmp_path / name)), render(g))

    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match gen.json"):
        load_generator(config_path)
    config_path.unlink()
    with pytest.raises(UserError, match="gen.json was not found"):
        load_generator(weights)
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(UserError, match="not a latentdirs generator config"):
        load_generator(tmp_path / "x.json")


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,5,9") == [1, 5, 9]
    assert parse_seeds("0-1, 7") == [0, 1, 7]
    for bad in ("", "a", "3-1", "1-", "-2"):
        with pytest.raises(UserError):
            parse_seeds(bad)
    assert len(parse_seeds("0-4095")) == 4096 and parse_seeds("4294967295") == [2**32 - 1]
    with pytest.raises(UserError, match="at most 4096"):  # counted before any list is built
        parse_seeds("0-4294967295")
    with pytest.raises(UserError, match=r"\[0, 2\^32\)"):
        parse_seeds("4294967296")


def test_generate_grid_uses_official_z(tmp_path, capsys):
    g = rosinality_like_generator(4)
    save_generator(g, tmp_path / "gen")
    out = tmp_path / "grid.png"
    main(["generate", "--generator", str(tmp_path / "gen.json"), "--seeds", "3,8", "--trunc", "0.7",
          "--out", str(out), "--nrow", "2", "--device", "cpu"])
    assert "2 image(s)" in capsys.readouterr().out
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 16 + 2, 2 + 2 * (16 + 2), 3)
    z = torch.from_numpy(np.random.RandomState(8).randn(1, 16).astype(np.float32))
    with torch.no_grad():
        img = g(z, truncation_psi=0.7, noise_mode="const")
    expected = np.clip(((img[0].numpy() + 1) / 2).transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(grid[2:18, 20:36], expected)
