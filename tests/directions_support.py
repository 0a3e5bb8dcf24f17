"""Tiny StyleGAN2 generators for the direction tests (random weights; CPU, milliseconds per batch)."""

from __future__ import annotations

from pathlib import Path

import torch

from latentdirs.gan import Generator, save_generator


def tiny_generator(seed: int = 0, img_channels: int = 1) -> Generator:
    """z_dim = w_dim = 8, 16×16 images, 8 channels, 6 W+ layers; weights drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=img_channels,
                              mapping_kwargs={"num_layers": 2},
                              synthesis_kwargs={"channel_base": 128, "channel_max": 8})
    return generator.eval().requires_grad_(False)


def tiny_generator_file(folder: Path, seed: int = 0) -> str:
    """A tiny generator saved in latentdirs' format; returns the path to give ``--generator``."""
    return str(save_generator(tiny_generator(seed), Path(folder) / f"tiny{seed}"))
