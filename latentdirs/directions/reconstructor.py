"""The reconstructor network of Voynov & Babenko (ICML 2020, arXiv 2002.03754).

It sees an image pair ``(G(w), G(w + ε·a_k))`` stacked along channels and predicts the direction
index ``k`` (logits over K) and the shift ``ε`` (a scalar). A small strided CNN: the pair is first
area-downsampled to at most ``size`` pixels; then stride-2 3×3 convolutions with leaky ReLU halve the
resolution down to 4×4, widths ``width·2^i`` capped at ``8·width``; global average pooling; two
linear heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Reconstructor(nn.Module):
    """``(x, x') [N, C, H, W] × 2 → (logits [N, K], shift [N])``."""

    def __init__(self, num_directions: int, channels: int, resolution: int, width: int = 32, size: int = 64) -> None:
        super().__init__()
        self.size = min(int(size), int(resolution))
        layers: list[nn.Module] = []
        cin, res, step = 2 * channels, self.size, 0
        while res > 4 or step == 0:
            cout = width * min(2**step, 8)
            layers += [nn.Conv2d(cin, cout, 3, stride=2 if res > 4 else 1, padding=1), nn.LeakyReLU(0.2)]
            cin, res, step = cout, max(res // 2, 4), step + 1
        self.body = nn.Sequential(*layers)
        self.classify = nn.Linear(cin, num_directions)
        self.regress = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor, x_shifted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pair = torch.cat([x, x_shifted], dim=1)
        if pair.shape[-1] > self.size:
            pair = F.adaptive_avg_pool2d(pair, (self.size, self.size))
        pooled = self.body(pair).mean(dim=(2, 3))
        return self.classify(pooled), self.regress(pooled).squeeze(1)
