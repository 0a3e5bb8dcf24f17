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

Layers use equalized learning rate: weights are stored N(0, 1) and scaled at run time by
``1/√fan_in`` (times the learning-rate multiplier); activations ``lrelu`` (slope 0.2) carry a gain of
√2. Down-sampling low-pass filters with the normalized [1, 3, 3, 1] kernel before taking every second
pixel (the upfirdn2d mathematics, written with conv2d). ``resnet`` blocks add the skip and main paths
each scaled by √½. Channels: ``min(channel_base // res, channel_max)`` at resolution ``res``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UserError

ARCHITECTURES = ("orig", "skip", "resnet")
_ACTIVATIONS = {"linear": (lambda x: x, 1.0), "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2.0)),
                "relu": (F.relu, math.sqrt(2.0))}


def setup_filter(taps: Sequence[float]) -> torch.Tensor:
    """2-D low-pass kernel from 1-D ``taps``: their outer product normalized to sum 1 (``[k, k]`` float32)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def filter2d(x: torch.Tensor, f: torch.Tensor, padding: tuple[int, int, int, int], down: int = 1) -> torch.Tensor:
    """Pad ``x`` by ``(left, right, top, bottom)``, convolve each channel with ``f``, keep every ``down``-th pixel."""
    channels = x.shape[1]
    x = F.pad(x, list(padding))
    kernel = f.flip([0, 1]).to(x.dtype)[None, None].repeat(channels, 1, 1, 1)
    x = F.conv2d(x, kernel, groups=channels)
    return x[:, :, ::down, ::down] if down > 1 else x


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Halve the resolution: low-pass with ``f`` then take every second pixel (``[N, C, H/2, W/2]``)."""
    k = f.shape[-1]
    return filter2d(x, f, ((k - 1) // 2, (k - 2) // 2, (k - 1) // 2, (k - 2) // 2), down=2)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, activation: str, gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """``clamp(act(x + b) · def_gain(act) · gain, ±clamp)`` with the bias broadcast over dim 1."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
    fn, def_gain = _ACTIVATIONS[activation]
    x = fn(x)
    g = def_gain * gain
    if g != 1:
        x = x * g
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    """Equalized-lr linear layer: ``act(x · (W · lr_mult/√in)ᵀ + b · lr_mult)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        return bias_act(x.matmul(w.t()), b, self.activation)


class Conv2dLayer(nn.Module):
    """Equalized-lr convolution (``W/√(in·k²)``), optional down-sampling by 2, bias, activation, clamp."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", down: int = 1, resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        if down not in (1, 2):
            raise ValueError(f"down must be 1 or 2, got {down}")
        self.activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if self.down == 1:
            x = F.conv2d(x, w, padding=self.padding)
        elif w.shape[-1] == 1:  # 1×1: filter-and-decimate first, then the pointwise convolution
            x = F.conv2d(downsample2d(x, self.resample_filter), w)
        else:  # pad for filter and kernel together, low-pass, then a stride-2 convolution
            k = self.resample_filter.shape[-1]
            lo, hi = self.padding + (k - 1) // 2, self.padding + (k - 2) // 2
            x = F.conv2d(filter2d(x, self.resample_filter, (lo, hi, lo, hi)), w, stride=2)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, self.activation, gain=gain, clamp=clamp)


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


class LabelMapping(nn.Module):
    """Label → ``cmap`` for conditional discriminators: ``embed``, 2nd-moment normalization, ``fc{i}`` (lrelu).

    The official code reuses its generator mapping network here with ``z_dim=0`` and no ``w_avg``.
    """

    def __init__(self, c_dim: int, cmap_dim: int, num_layers: int = 8, embed_features: int | None = None,
                 layer_features: int | None = None, activation: str = "lrelu", lr_multiplier: float = 0.01) -> None:
        super().__init__()
        embed_features = cmap_dim if embed_features is None else embed_features
        layer_features = cmap_dim if layer_features is None else layer_features
        self.num_layers = num_layers
        self.embed = FullyConnectedLayer(c_dim, embed_features)
        sizes = [embed_features] + [layer_features] * (num_layers - 1) + [cmap_dim]
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(sizes[i], sizes[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        x = self.embed(c.to(torch.float32))
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
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
            self.mapping = LabelMapping(c_dim, cmap_dim, **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **(epilogue_kwargs or {}),
                                        **common)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise UserError(f"discriminator expects images [N, {', '.join(map(str, expected))}], got {list(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img)
        cmap = self.mapping(c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
