"""StyleGAN2 discriminator with the parameter names and shapes of stylegan2-ada-pytorch.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020, arXiv 1912.04958)
and "Training Generative Adversarial Networks with Limited Data" (NeurIPS 2020, arXiv 2006.06676).
Written from the published architecture; the naming follows the official ``training/networks.py``
so that a state dict of theirs loads with ``strict=True``:

* ``b{res}`` for res = R, R/2, …, 8: ``fromrgb`` (first block, or every block with ``skip``),
  ``conv0`` (3×3), ``conv1`` (3×3, down 2), and ``skip`` (1×1, down 2, no bias) with ``resnet``;
  every layer carries its ``resample_filter`` buffer ([1, 3, 3, 1] ⊗ [1, 3, 3, 1] / 64);
* ``b4`` (the epilogue): minibatch standard deviation (group 4, one feature), ``conv`` (3×3),
  ``fc`` (C·16 → C), ``out`` (C → 1, or C → cmap_dim with labels, projected on the mapped label);
* ``mapping`` (labels only): ``embed`` then ``fc{i}`` with learning-rate multiplier 0.01.

The layers are the generator's (``gan.layers``, ``gan.resample``, ``gan.mapping``): equalized learning
rate (weights stored N(0, 1), scaled by ``1/√fan_in`` at run time), ``lrelu`` with gain √2, and
down-sampling that low-pass filters with the normalized [1, 3, 3, 1] kernel before a stride-2
convolution. ``resnet`` blocks add the skip and main paths each scaled by √½. Channels:
``min(channel_base // res, channel_max)`` at resolution ``res``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import UserError
from ..validation import GAN_ARCHITECTURES as ARCHITECTURES
from .layers import Conv2dLayer, FullyConnectedLayer
from .mapping import MappingNetwork
from .resample import downsample2d, setup_filter


class MinibatchStdLayer(nn.Module):
    """Append the mean over features of the per-group standard deviation as ``num_channels`` new channels.

    The batch is split into groups of ``G = min(group_size, N)`` samples (sample ``i`` belongs to group
    ``i mod (N/G)``); ``N`` must be a multiple of ``G``.
    """

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise UserError(f"minibatch-std group size {g} must divide the batch size {n}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """One resolution: (fromrgb) → conv0 → conv1 (down 2), plus the 1×1 skip for ``resnet``."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None) -> None:
        super().__init__()
        if in_channels not in (0, tmp_channels):
            raise ValueError("in_channels must be 0 (first block) or tmp_channels")
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation=activation, conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation=activation, conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation=activation, down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class DiscriminatorEpilogue(nn.Module):
    """The 4×4 head: (fromrgb for ``skip``) → minibatch std → conv → fc → out (→ label projection)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        if self.architecture == "skip":
            x = x + self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    """``D(img [N, C, R, R] in [-1, 1], c [N, c_dim]) → logits [N, 1]`` (constructor args as the official one)."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: float | None = None, cmap_dim: int | None = None, block_kwargs: dict | None = None,
                 mapping_kwargs: dict | None = None, epilogue_kwargs: dict | None = None) -> None:
        super().__init__()
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise UserError(f"discriminator resolution must be a power of two ≥ 8, got {img_resolution}")
        if architecture not in ARCHITECTURES:
            raise UserError(f"unknown discriminator architecture {architecture!r}; expected {', '.join(ARCHITECTURES)}")
        del num_fp16_res  # accepted for compatibility with the official kwargs; we run in fp32
        self.init_kwargs: dict[str, Any] = {
            "c_dim": c_dim, "img_resolution": img_resolution, "img_channels": img_channels,
            "architecture": architecture, "channel_base": channel_base, "channel_max": channel_max,
            "conv_clamp": conv_clamp, "cmap_dim": cmap_dim, "block_kwargs": dict(block_kwargs or {}),
            "mapping_kwargs": dict(mapping_kwargs or {}), "epilogue_kwargs": dict(epilogue_kwargs or {}),
        }
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        cmap_dim = channels[4] if cmap_dim is None else cmap_dim
        cmap_dim = 0 if c_dim == 0 else cmap_dim
        common = {"img_channels": img_channels, "architecture": architecture, "conv_clamp": conv_clamp}
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[res], channels[res // 2], resolution=res,
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **(epilogue_kwargs or {}),
                                        **common)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise UserError(f"discriminator expects images [N, {', '.join(map(str, expected))}], got {list(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
