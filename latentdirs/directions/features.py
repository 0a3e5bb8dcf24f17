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

Neither weight file is loaded by lpips or torchvision: torchvision's loader unpickles a cached file with
``weights_only=False``, so a file planted at the path our warning names would run its code. Both are read
here by :func:`read_weights` — the file's sha256 checked first (the lpips package's file in full,
torchvision's by the prefix its name carries), then ``torch.load(weights_only=True)`` — and copied into a
network that lpips built without loading anything.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentdirsWarning, UserError
from ..io import sha256_file

FEATURE_KINDS = ("pixels", "downsample", "lpips")
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
#: torchvision names a weight file ``NAME-<first hex digits of its sha256>.pth`` (and checks them on download only)
ALEXNET_SHA256_PREFIX = "7be5be79"
#: sha256 of the lpips package's linear-layer weights for AlexNet, ``lpips/weights/v0.1/alex.pth`` (lpips 0.1.4)
LPIPS_LINEAR_SHA256 = "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"
LPIPS_MIN_SIZE = 64


def alexnet_weights_location() -> Path:
    """Where torchvision keeps (or would keep) its AlexNet weights: the torch hub's checkpoint folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def alexnet_weights_path() -> Path | None:
    """The cached torchvision AlexNet weights, or None when they are not on this machine."""
    path = alexnet_weights_location()
    return path if path.is_file() else None


def lpips_linear_weights_path() -> Path:
    """The lpips package's own linear-layer weights for AlexNet."""
    import lpips

    return Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"


def read_weights(path: Path, what: str, sha256: str) -> dict[str, torch.Tensor]:
    """The tensors of a torch weights file, nothing in it run: its sha256 must start with ``sha256`` (a full
    digest or a prefix), then ``torch.load(weights_only=True)`` must find a flat dict of tensors. Anything else
    (a planted payload, a truncated download, another file) is one UserError line naming the file."""
    digest = sha256_file(path)
    if not digest.startswith(sha256):
        raise UserError(f"{path} is not {what}: its sha256 is {digest[:16]}…, expected {sha256[:16]}… (nothing in it "
                        "was run; delete or replace the file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or non-weights files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path} is not a readable file of {what} ({first[:160]}; nothing in it was run)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} holds a {type(state).__name__} of other things than tensors, not {what}")
    return state


def _copy_weights(module: nn.Module, state: dict[str, torch.Tensor], names: dict[str, str], path: Path) -> None:
    """``module``'s tensors ``{own name: name in state}`` from ``state``, every one present with its shape."""
    own = module.state_dict()
    for name, source in names.items():
        if source not in state or tuple(state[source].shape) != tuple(own[name].shape):
            found = list(state[source].shape) if source in state else "nothing"
            raise UserError(f"{path}: expected {source} of shape {list(own[name].shape)}, found {found}")
        own[name].copy_(state[source])


def lpips_alexnet(seed: int, backbone: Path | None) -> nn.Module:
    """lpips' LPIPS network (AlexNet) with its linear weights, and the ImageNet backbone from ``backbone`` (with
    ``None``, a random one from ``seed``); every file is read by :func:`read_weights`."""
    import lpips

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
        torch.manual_seed(seed)
        model = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False)  # loads no file
    linear = lpips_linear_weights_path()
    state = read_weights(linear, "the lpips package's AlexNet linear weights", LPIPS_LINEAR_SHA256)
    with torch.no_grad():
        _copy_weights(model, state, {f"lin{i}.model.1.weight": f"lin{i}.model.1.weight" for i in range(5)}, linear)
        if backbone is not None:
            state = read_weights(backbone, "torchvision's AlexNet ImageNet weights", ALEXNET_SHA256_PREFIX)
            # lpips slices torchvision's ``features`` keeping the indices: slice2.3.weight is features.3.weight
            names = {name: "features." + name.split(".", 1)[1] for name in model.net.state_dict()}
            _copy_weights(model.net, state, names, backbone)
    return model.eval()


class LpipsEmbedding(nn.Module):
    """``φ(x)`` with ``‖φ(x) − φ(y)‖² = LPIPS(x, y)`` (images in [-1, 1], 1 or 3 channels)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        backbone = alexnet_weights_path()
        self.pretrained_backbone = backbone is not None
        model = lpips_alexnet(seed, backbone)
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
