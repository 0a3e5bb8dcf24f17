"""The factor classifier: a small CNN reading the ground-truth factors of an image.

One softmax head per factor (factors with a single value get no head and always read 0). The input
gets two coordinate channels (CoordConv; Liu et al., NeurIPS 2018, arXiv 1807.03247) because
position factors need pixel-exact localization; then 4×4 stride-2 convolutions with batch norm
halve the resolution down to 4×4, a fully connected layer, and the heads.

Input images: NCHW float in [0, 1] (the datasets' convention); generator output in [-1, 1] must be
mapped with ``(x + 1) / 2`` first.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import UserError


class FactorClassifier(nn.Module):
    """``images [N, C, H, W]`` in [0, 1] → one logits tensor ``[N, factor_sizes[k]]`` per factor."""

    def __init__(self, observation_shape: tuple[int, int, int], factor_sizes: tuple[int, ...],
                 factor_names: tuple[str, ...], width: int = 32, hidden: int = 256,
                 dataset: str = "") -> None:
        super().__init__()
        channels, height, width_px = (int(v) for v in observation_shape)
        if height != width_px or height < 8 or height & (height - 1):
            raise UserError(f"factor classifier needs square power-of-two images ≥ 8 px, got {height}×{width_px}")
        if len(factor_sizes) != len(factor_names):
            raise UserError("factor_sizes and factor_names must have the same length")
        self.config: dict[str, Any] = {
            "observation_shape": [channels, height, width_px], "factor_sizes": [int(s) for s in factor_sizes],
            "factor_names": list(factor_names), "width": int(width), "hidden": int(hidden), "dataset": dataset,
        }
        layers: list[nn.Module] = []
        in_ch, out_ch = channels + 2, width
        for level in range(int(math.log2(height)) - 2):  # down to 4×4
            out_ch = width * (2 if level >= 2 else 1)
            layers += [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                       nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(out_ch * 16, hidden), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({
            name: nn.Linear(hidden, size) for name, size in zip(factor_names, factor_sizes, strict=True) if size > 1
        })
        ramp = torch.linspace(-1.0, 1.0, height)
        self.register_buffer("coords", torch.stack(torch.meshgrid(ramp, ramp, indexing="ij"))[None], persistent=False)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.config["factor_names"])

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return tuple(self.config["factor_sizes"])

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return tuple(self.config["observation_shape"])  # type: ignore[return-value]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per factor name (only factors with more than one value)."""
        expected = self.observation_shape
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise UserError(f"factor classifier expects images [N, {', '.join(map(str, expected))}], "
                            f"got {list(images.shape)}")
        coords = self.coords.expand(images.shape[0], -1, -1, -1)
        hidden = self.fc(self.features(torch.cat([images * 2.0 - 1.0, coords], dim=1)).flatten(1))
        return {name: head(hidden) for name, head in self.heads.items()}
