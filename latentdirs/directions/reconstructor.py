"""The reconstructor networks of Voynov & Babenko (ICML 2020, arXiv 2002.03754).

A reconstructor sees an image pair ``(G(w), G(w + ε·a_k))`` stacked along channels (``2·C`` of them, 6
for RGB) and predicts the direction index ``k`` (logits over K) and the shift ``ε`` (a scalar) from one
shared feature vector with two heads. Three networks (``build_reconstructor(net=…)``):

- ``resnet18`` — the paper's: torchvision's ResNet-18 with random weights (never pretrained, nothing
  downloaded), its first convolution replaced by a 7×7 stride-2 one with ``2·C`` input channels
  (Kaiming-normal, fan-out), the ImageNet classifier dropped, and the 512 globally pooled features fed
  to ``Linear(512, K)`` and ``Linear(512, 1)``. Full resolution, as the reference code
  (anvoynov/GANLatentDiscovery ``latent_shift_predictor.LatentShiftPredictor``; that code keeps the
  unused 1000-way ImageNet layer and hard-codes a 6-channel stem). 11.2 M parameters.
- ``lenet`` — the paper's network for MNIST (``LeNetShiftPredictor`` there, width 2): three 5×5
  convolutions (6, 16, 120 channels) with batch norm, ReLU and two 2×2 max-pools, spatial mean, then
  one ``Linear–BatchNorm–ReLU–Linear`` head per output (84 hidden units each); images of ≥ 32 px.
- ``small`` — ours, a fast stand-in: the pair is area-downsampled to at most ``size`` (default 64)
  pixels; stride-2 3×3 convolutions with leaky ReLU halve the resolution down to 4×4, widths
  ``width·2^i`` capped at ``8·width``; global average pooling; two linear heads (0.39 M parameters
  for one channel at 64 px).

``size > 0`` area-downsamples the pair to at most ``size`` pixels before any network (the reference
code's ``--shift_predictor_size`` uses nearest-neighbour interpolation instead); ``size = 0`` means the
network's default (full resolution for ``resnet18``/``lenet``, 64 for ``small``). The batch-norm nets train
in train mode; RCA measures them in eval mode, as the reference code's ``trainer.validate_classifier``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError

NETS = ("resnet18", "lenet", "small")
SMALL_DEFAULT_SIZE = 64


class PairReconstructor(nn.Module):
    """``(x, x') [N, C, H, W] × 2 → (logits [N, K], shift [N])`` from a feature network and two heads."""

    def __init__(self, features: nn.Module, classify: nn.Module, regress: nn.Module, size: int | None) -> None:
        super().__init__()
        self.size = size
        self.body = features
        self.classify = classify
        self.regress = regress

    def forward(self, x: torch.Tensor, x_shifted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pair = torch.cat([x, x_shifted], dim=1)
        if self.size is not None and pair.shape[-1] > self.size:
            pair = F.adaptive_avg_pool2d(pair, (self.size, self.size))
        features = self.body(pair)
        return self.classify(features), self.regress(features).squeeze(1)


class SpatialMean(nn.Module):
    """``[N, C, H, W] → [N, C]``: the mean over the image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def resnet18_features(in_channels: int) -> nn.Module:
    """torchvision's ResNet-18 (random weights) with an ``in_channels`` stem, ending in the 512 pooled features."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.fc = nn.Identity()
    return net


def lenet_features(in_channels: int, width: int = 2) -> nn.Module:
    """The reference code's LeNet body: three 5×5 convolutions with batch norm, then the spatial mean."""
    widths = (3 * width, 8 * width, 60 * width)
    layers: list[nn.Module] = []
    for index, cout in enumerate(widths):
        layers += [nn.Conv2d(in_channels, cout, 5), nn.BatchNorm2d(cout), nn.ReLU()]
        if index < 2:
            layers.append(nn.MaxPool2d(2, stride=2))
        in_channels = cout
    return nn.Sequential(*layers, SpatialMean())


def lenet_head(width: int, outputs: int) -> nn.Module:
    return nn.Sequential(nn.Linear(60 * width, 42 * width), nn.BatchNorm1d(42 * width), nn.ReLU(),
                         nn.Linear(42 * width, outputs))


def small_features(in_channels: int, size: int, width: int) -> tuple[nn.Module, int]:
    """Stride-2 3×3 convolutions with leaky ReLU from ``size`` down to 4×4, then the spatial mean."""
    layers: list[nn.Module] = []
    cin, res, step = in_channels, size, 0
    while res > 4 or step == 0:
        cout = width * min(2**step, 8)
        layers += [nn.Conv2d(cin, cout, 3, stride=2 if res > 4 else 1, padding=1), nn.LeakyReLU(0.2)]
        cin, res, step = cout, max(res // 2, 4), step + 1
    return nn.Sequential(*layers, SpatialMean()), cin


def build_reconstructor(net: str, num_directions: int, channels: int, resolution: int, *, width: int = 32,
                        size: int = 0) -> PairReconstructor:
    """A reconstructor for ``channels × resolution²`` images and ``num_directions`` directions (module docstring)."""
    if net not in NETS:
        raise UserError(f"unknown reconstructor net {net!r}; expected one of {', '.join(NETS)}")
    limit = min(int(size), int(resolution)) if size > 0 else None
    pair = 2 * channels
    if net == "resnet18":
        return PairReconstructor(resnet18_features(pair), nn.Linear(512, num_directions), nn.Linear(512, 1), limit)
    if net == "lenet":
        side = limit or int(resolution)
        if side < 32:
            raise UserError(f"the LeNet reconstructor needs images of at least 32 px, got {side}")
        return PairReconstructor(lenet_features(pair), lenet_head(2, num_directions), lenet_head(2, 1), limit)
    side = limit or min(SMALL_DEFAULT_SIZE, int(resolution))
    body, features = small_features(pair, side, width)
    return PairReconstructor(body, nn.Linear(features, num_directions), nn.Linear(features, 1), side)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
