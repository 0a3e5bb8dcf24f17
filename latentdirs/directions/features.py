"""Image features that direction objectives and evaluation compare images in.

- ``pixels``: the generator output flattened, ``[N, C·H·W]``.
- ``downsample``: area-averaged to ``size × size`` first (cheaper, less sensitive to texture).
- ``lpips``: the LPIPS embedding (Zhang et al., CVPR 2018, arXiv 1801.03924). LPIPS is
  ``d(x, y) = Σ_l (H_l W_l)⁻¹ Σ_{h,w} Σ_c w_lc (f̂_lchw(x) − f̂_lchw(y))²`` with channel-normalised
  backbone features ``f̂`` and non-negative channel weights ``w_lc``, so with
  ``φ(x) = concat_l √w_lc · f̂_lchw(x) / √(H_l W_l)`` it is exactly ``‖φ(x) − φ(y)‖²``: Euclidean
  distances of :class:`LpipsEmbedding` are √LPIPS. The backbone is AlexNet from the ``lpips`` package
  with its shipped linear weights; the ImageNet backbone weights are used only when already present
  in the torch hub cache (``alexnet-owt-7be5be79.pth``) — nothing is downloaded. Without them the
  backbone is randomly initialised from a fixed seed and :attr:`LpipsEmbedding.pretrained_backbone`
  is False; callers must say so in their output.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentdirsWarning, UserError

FEATURE_KINDS = ("pixels", "downsample", "lpips")
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_MIN_SIZE = 64


def alexnet_weights_location() -> Path:
    """Where torchvision keeps (or would keep) its AlexNet weights: the torch hub's checkpoint folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def alexnet_weights_path() -> Path | None:
    """The cached torchvision AlexNet weights, or None when they are not on this machine."""
    path = alexnet_weights_location()
    return path if path.is_file() else None


class LpipsEmbedding(nn.Module):
    """``φ(x)`` with ``‖φ(x) − φ(y)‖² = LPIPS(x, y)`` (images in [-1, 1], 1 or 3 channels)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        import lpips

        self.pretrained_backbone = alexnet_weights_path() is not None
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
            torch.manual_seed(seed)
            model = lpips.LPIPS(net="alex", pnet_rand=not self.pretrained_backbone, verbose=False)
        self.scaling = model.scaling_layer
        self.backbone = model.net
        weights = [lin.model[-1].weight.detach().reshape(-1).clamp_min(0) for lin in model.lins]
        for index, weight in enumerate(weights):
            self.register_buffer(f"lin{index}", weight.sqrt())
        self.num_layers = len(weights)
        self.eval().requires_grad_(False)

    @property
    def description(self) -> str:
        if self.pretrained_backbone:
            return "LPIPS (AlexNet, ImageNet backbone)"
        return "LPIPS with a RANDOM AlexNet backbone (ImageNet weights not found; values are not comparable to LPIPS)"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[-1] < LPIPS_MIN_SIZE:
            images = F.interpolate(images, size=(LPIPS_MIN_SIZE, LPIPS_MIN_SIZE), mode="bilinear", align_corners=False)
        outputs = self.backbone(self.scaling(images))
        parts = []
        for index, feature in enumerate(outputs):
            normalised = feature / (feature.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            weight = getattr(self, f"lin{index}")[None, :, None, None]
            parts.append((normalised * weight).flatten(1) / (feature.shape[2] * feature.shape[3]) ** 0.5)
        return torch.cat(parts, dim=1)


class ImageFeatures(nn.Module):
    """Maps images ``[N, C, H, W]`` to feature vectors ``[N, F]`` of the chosen kind (differentiable)."""

    def __init__(self, kind: str = "pixels", size: int = 32) -> None:
        super().__init__()
        if kind not in FEATURE_KINDS:
            raise UserError(f"unknown feature space {kind!r}; expected one of {', '.join(FEATURE_KINDS)}")
        self.kind = kind
        self.size = int(size)
        self.lpips = LpipsEmbedding() if kind == "lpips" else None
        if self.lpips is not None and not self.lpips.pretrained_backbone:
            warnings.warn(f"features=lpips: {self.lpips.description}; the directions are trained in that space. "
                          f"For LPIPS proper, put torchvision's AlexNet weights at {alexnet_weights_location()}",
                          LatentdirsWarning, stacklevel=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.kind == "pixels":
            return images.flatten(1)
        if self.kind == "downsample":
            if images.shape[-1] > self.size:
                images = F.adaptive_avg_pool2d(images, (self.size, self.size))
            return images.flatten(1)
        return self.lpips(images)
