"""A tiny StyleGAN2-like stand-in generator for the direction tests (CPU, milliseconds).

It has the interface of ``latentdirs.gan.Generator`` that direction search uses — ``mapping(z, c,
truncation_psi)`` → ``ws [N, num_ws, w_dim]``, ``synthesis(ws, noise_mode)`` → images in about
[-1, 1], ``z_dim``/``w_dim``/``num_ws``/``img_channels``/``img_resolution``/``c_dim`` — and style
affines named like stylegan2-ada's (``synthesis.b{res}.{conv0,conv1,torgb}.affine.weight``, shape
``[channels, w_dim]``), read with the official W+ indexing (ToRGB shares its index with the next
block's conv0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Affine(nn.Module):
    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, w_dim) / w_dim**0.5)
        self.bias = nn.Parameter(torch.ones(channels))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return F.linear(w, self.weight, self.bias)


class _ModConv(nn.Module):
    def __init__(self, w_dim: int, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__()
        self.affine = _Affine(w_dim, cin)
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / (cin * kernel * kernel) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.kernel = kernel

    def forward(self, x: torch.Tensor, w: torch.Tensor, activate: bool = True) -> torch.Tensor:
        styles = self.affine(w)  # [N, cin]
        out = F.conv2d(x * styles[:, :, None, None], self.weight, padding=self.kernel // 2)
        out = out + self.bias[None, :, None, None]
        return F.leaky_relu(out, 0.2) if activate else out


class _Block(nn.Module):
    def __init__(self, w_dim: int, cin: int, cout: int, channels: int, first: bool) -> None:
        super().__init__()
        self.first = first
        if first:
            self.const = nn.Parameter(torch.randn(cout, 4, 4))
        else:
            self.conv0 = _ModConv(w_dim, cin, cout)
        self.conv1 = _ModConv(w_dim, cout, cout)
        self.torgb = _ModConv(w_dim, cout, channels, kernel=1)
        self.num_conv = 1 if first else 2


class _Synthesis(nn.Module):
    def __init__(self, w_dim: int, resolution: int, channels: int, width: int) -> None:
        super().__init__()
        self.resolutions = [2**i for i in range(2, resolution.bit_length())]
        for res in self.resolutions:
            setattr(self, f"b{res}", _Block(w_dim, width, width, channels, first=res == 4))
        self.num_ws = sum(getattr(self, f"b{r}").num_conv for r in self.resolutions) + 1

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        index, x, img = 0, None, None
        for res in self.resolutions:
            block = getattr(self, f"b{res}")
            if block.first:
                x = block.const[None].expand(ws.shape[0], -1, -1, -1)
                x = block.conv1(x, ws[:, index])
            else:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
                x = block.conv0(x, ws[:, index])
                x = block.conv1(x, ws[:, index + 1])
            rgb = block.torgb(x, ws[:, index + block.num_conv], activate=False)
            img = rgb if img is None else img + rgb
            index += block.num_conv
        return torch.tanh(img)


class _Mapping(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, num_ws: int, layers: int = 2) -> None:
        super().__init__()
        self.num_ws = num_ws
        dims = [z_dim] + [w_dim] * layers
        for i in range(layers):
            setattr(self, f"fc{i}", nn.Linear(dims[i], dims[i + 1]))
        self.layers = layers
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, c, truncation_psi: float = 1.0, truncation_cutoff=None):
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.layers):
            x = F.leaky_relu(getattr(self, f"fc{i}")(x), 0.2)
        ws = x[:, None, :].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            ws = self.w_avg.lerp(ws, truncation_psi)
        return ws


class TinyGenerator(nn.Module):
    """Stand-in generator: z_dim=w_dim=8 by default, 16×16 images."""

    def __init__(self, z_dim: int = 8, w_dim: int = 8, img_resolution: int = 16, img_channels: int = 1,
                 width: int = 8, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, 0
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = _Synthesis(w_dim, img_resolution, img_channels, width)
        self.num_ws = self.synthesis.num_ws
        self.mapping = _Mapping(z_dim, w_dim, self.num_ws)
        self.init_kwargs = {"z_dim": z_dim, "w_dim": w_dim, "img_resolution": img_resolution,
                            "img_channels": img_channels, "width": width, "seed": seed}

    def forward(self, z, c=None, truncation_psi: float = 1.0, noise_mode: str = "const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode=noise_mode)


def tiny_generator(seed: int = 0, **kwargs) -> nn.Module:
    return TinyGenerator(seed=seed, **kwargs).eval()
