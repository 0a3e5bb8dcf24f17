"""Read rosinality/stylegan2-pytorch checkpoints (``.pt`` with ``g_ema`` and ``latent_avg``).

The file is read with ``torch.load(weights_only=True)`` (``argparse.Namespace``, which training
checkpoints store under ``args``, is the one extra class allowed). Its generator is the same network
as stylegan2-ada-pytorch's with architecture ``skip``, no ``conv_clamp``, mapping lr multiplier 0.01;
key mapping (``i`` counts blocks from 8×8, ``r`` their resolution):

=====================================  ==========================================================
rosinality                             ours (official names)
=====================================  ==========================================================
``style.{k+1}.weight|bias``            ``mapping.fc{k}.weight|bias``
``input.input`` [1, C, 4, 4]           ``synthesis.b4.const`` [C, 4, 4]
``conv1.*`` / ``to_rgb1.*``            ``synthesis.b4.conv1.*`` / ``synthesis.b4.torgb.*``
``convs.{2i}.*`` / ``convs.{2i+1}.*``  ``synthesis.b{r}.conv0.*`` / ``synthesis.b{r}.conv1.*``
``to_rgbs.{i}.*``                      ``synthesis.b{r}.torgb.*``
``….conv.weight`` [1, O, I, k, k]      ``….weight`` [O, I, k, k] (no flip: both use it as-is)
``….conv.modulation.weight|bias``      ``….affine.weight|bias``
``….noise.weight`` [1]                 ``….noise_strength`` []
``….activate.bias`` / ``to_rgb*.bias``  ``….bias`` (ToRGB bias [1, 3, 1, 1] → [3])
``noises.noise_{j}`` [1, 1, r, r]      ``noise_const`` [r, r] of the j-th conv (j = 0 is b4.conv1)
``latent_avg`` [w_dim]                 ``mapping.w_avg``
=====================================  ==========================================================

The blur kernels (``….blur.kernel``, ``….upsample.kernel``) must be 4·[1,3,3,1]ᵀ[1,3,3,1]/64. Channel
counts must follow ``min(channel_base // res, channel_max)``, which rosinality's table does for
``channel_multiplier`` 1 and 2 (the released models); with 4 (512 at 32×32, then 1024 at 64×64) it does not,
and such a checkpoint is refused with that message.
Without ``latent_avg`` (training checkpoints), ``w_avg`` is estimated as the mean W of 4096
z ~ N(0, I) drawn with seed 0, as rosinality's ``mean_latent(4096)`` does (said in the notes).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ...errors import UserError
from ..generator import Generator
from ..resample import setup_filter
from .build import build_generator

LR_MULTIPLIER = 0.01
W_AVG_SAMPLES = 4096


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        safe = getattr(torch.serialization, "safe_globals", None)
        if safe is not None:
            with safe([argparse.Namespace]):
                data = torch.load(path, map_location="cpu", weights_only=True)
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path} is not a readable PyTorch checkpoint of plain tensors ({first[:200]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} holds a {type(data).__name__}, expected a rosinality checkpoint dict with g_ema")
    return data


def _generator_state(data: dict[str, Any], path: Path) -> tuple[dict[str, torch.Tensor], str]:
    for key in ("g_ema", "g"):
        if isinstance(data.get(key), dict) and "style.1.weight" in data[key]:
            return data[key], key
    if "style.1.weight" in data:
        return data, "(top level)"
    raise UserError(f"{path} is a PyTorch checkpoint but not a rosinality StyleGAN2 one (expected g_ema with "
                    f"style.1.weight; found keys {sorted(map(str, data))[:10]})")


def _channel_settings(channels: dict[int, int], path: Path) -> tuple[int, int]:
    """``(channel_base, channel_max)`` with ``min(base // res, max) == channels[res]`` for every res."""
    channel_max = max(channels.values())
    for base in sorted({c * r for r, c in channels.items()}):
        if all(min(base // r, channel_max) == c for r, c in channels.items()):
            return base, channel_max
    raise UserError(f"{path}: channel counts {channels} do not follow min(channel_base // res, channel_max)")


def rosinality_config(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Generator kwargs inferred from the shapes of a rosinality ``g_ema`` state dict."""
    try:
        n_mlp = max(int(m.group(1)) for k in state if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
        style_dim = int(state["style.1.weight"].shape[0])
        num_up = 1 + max((int(m.group(1)) for k in state if (m := re.fullmatch(r"to_rgbs\.(\d+)\.bias", k))),
                         default=-1)
        channels = {4: int(state["input.input"].shape[1])}
        for i in range(num_up):
            channels[8 << i] = int(state[f"convs.{2 * i}.conv.weight"].shape[1])
        img_channels = int(state["to_rgb1.conv.weight"].shape[1])
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UserError(f"{path}: incomplete rosinality generator weights (missing or malformed {exc})") from None
    channel_base, channel_max = _channel_settings(channels, path)
    return dict(z_dim=style_dim, c_dim=0, w_dim=style_dim, img_resolution=4 << num_up, img_channels=img_channels,
                mapping_kwargs={"num_layers": n_mlp, "lr_multiplier": LR_MULTIPLIER},
                synthesis_kwargs={"channel_base": channel_base, "channel_max": channel_max, "architecture": "skip",
                                  "conv_clamp": None})


def _layer_pairs(num_up: int) -> list[tuple[str, str, int]]:
    """(rosinality prefix, our prefix, noise index) for every modulated conv."""
    pairs = [("conv1", "synthesis.b4.conv1", 0)]
    for i in range(num_up):
        res = 8 << i
        pairs.append((f"convs.{2 * i}", f"synthesis.b{res}.conv0", 2 * i + 1))
        pairs.append((f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", 2 * i + 2))
    return pairs


def _rgb_pairs(num_up: int) -> list[tuple[str, str]]:
    return [("to_rgb1", "synthesis.b4.torgb")] + [(f"to_rgbs.{i}", f"synthesis.b{8 << i}.torgb") for i in range(num_up)]


def map_state(state: dict[str, torch.Tensor], config: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """rosinality names → official names (see the module table); blur kernels are checked and dropped."""
    num_up = config["img_resolution"].bit_length() - 3
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(src: str, dst: str, reshape: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> None:
        if src not in state:
            raise UserError(f"{path}: rosinality weights lack {src}")
        out[dst] = reshape(state[src])
        used.add(src)

    for k in range(config["mapping_kwargs"]["num_layers"]):
        take(f"style.{k + 1}.weight", f"mapping.fc{k}.weight")
        take(f"style.{k + 1}.bias", f"mapping.fc{k}.bias")
    take("input.input", "synthesis.b4.const", lambda t: t[0])
    for res in (4 << i for i in range(num_up + 1)):
        out[f"synthesis.b{res}.resample_filter"] = setup_filter()
    for src, dst, noise in _layer_pairs(num_up):
        take(f"{src}.conv.weight", f"{dst}.weight", lambda t: t[0])
        take(f"{src}.conv.modulation.weight", f"{dst}.affine.weight")
        take(f"{src}.conv.modulation.bias", f"{dst}.affine.bias")
        take(f"{src}.noise.weight", f"{dst}.noise_strength", lambda t: t.reshape([]))
        take(f"{src}.activate.bias", f"{dst}.bias")
        take(f"noises.noise_{noise}", f"{dst}.noise_const", lambda t: t[0, 0])
        out[f"{dst}.resample_filter"] = setup_filter()
    for src, dst in _rgb_pairs(num_up):
        take(f"{src}.conv.weight", f"{dst}.weight", lambda t: t[0])
        take(f"{src}.conv.modulation.weight", f"{dst}.affine.weight")
        take(f"{src}.conv.modulation.bias", f"{dst}.affine.bias")
        take(f"{src}.bias", f"{dst}.bias", lambda t: t.reshape(-1))

    expected_kernel = setup_filter((1, 3, 3, 1)) * 4
    for name in sorted(set(state) - used):
        if name.endswith((".blur.kernel", ".upsample.kernel")):
            kernel = state[name]
            if tuple(kernel.shape) != (4, 4) or not torch.allclose(kernel.float(), expected_kernel, atol=1e-6):
                raise UserError(f"{path}: {name} is not the [1,3,3,1] blur kernel; other filters are not supported")
            continue
        raise UserError(f"{path}: unexpected rosinality weight {name}")
    return out


def load_rosinality(path: Path, file_sha256: Callable[[], str]) -> Generator:
    data = read_checkpoint(path)
    state, key = _generator_state(data, path)
    config = rosinality_config(state, path)
    mapped = map_state(state, config, path)
    latent_avg = data.get("latent_avg")
    has_avg = isinstance(latent_avg, torch.Tensor)
    mapped["mapping.w_avg"] = latent_avg.reshape(-1) if has_avg else torch.zeros(config["w_dim"])
    notes = [] if has_avg else [f"no latent_avg in the checkpoint: w_avg estimated from {W_AVG_SAMPLES} z (seed 0)"]
    source = {"format": "rosinality-stylegan2", "file": path.name, "sha256": file_sha256(), "checkpoint_key": key,
              "notes": notes}
    generator = build_generator(config, mapped, str(path), source)
    if not has_avg:
        z = torch.randn([W_AVG_SAMPLES, generator.z_dim], generator=torch.Generator().manual_seed(0))
        generator.mapping.w_avg.copy_(generator.z_to_w(z).mean(dim=0))
    return generator
