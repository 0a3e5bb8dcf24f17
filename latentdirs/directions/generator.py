"""A thin handle on a frozen StyleGAN2 generator: the only place that calls its mapping and synthesis.

The generator is any module with the stylegan2-ada-pytorch interface (``latentdirs.gan.Generator``):
attributes ``z_dim``, ``c_dim``, ``w_dim``, ``num_ws``, ``img_channels``, ``img_resolution``;
``mapping(z [N, z_dim], c [N, c_dim], truncation_psi=…) -> ws [N, num_ws, w_dim]`` and
``synthesis(ws, noise_mode=…) -> images [N, C, H, W]`` in about [-1, 1]. Images are rendered with
``noise_mode="const"`` by default, so an image is a deterministic function of its latent code.

The handle also identifies the generator by :func:`latentdirs.gan.generator_fingerprint` (SHA-256
of its constructor arguments and weights, independent of the file format the weights came from), so
a direction file can be checked against the generator it is used with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import UserError

_AFFINE_NAME = re.compile(r"^synthesis\.b(\d+)\.(conv0|conv1|torgb)\.affine\.weight$")


@dataclass(frozen=True)
class AffineLayer:
    """One style affine (``w → style``) of the synthesis network and the W+ index it reads."""

    name: str
    ws_index: int
    weight: torch.Tensor  # [out_channels, w_dim]


def affine_layers(module: nn.Module | Mapping[str, torch.Tensor]) -> list[AffineLayer]:
    """The style affines of a stylegan2-ada synthesis network with the W+ index each one reads.

    Blocks run in increasing resolution; block ``b4`` has ``conv1`` and ``torgb``, the others
    ``conv0``, ``conv1`` and (skip architecture or last block) ``torgb``. A block starting at W+
    index ``i`` uses ``i, i+1`` for its convolutions and ``i+2`` for its ToRGB (``i+1`` in ``b4``),
    and the next block starts at ``i + number of convolutions`` — so a ToRGB shares its index with
    the next block's ``conv0``, as in the official ``SynthesisNetwork.forward``.
    """
    state = module.state_dict() if isinstance(module, nn.Module) else module
    found: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        match = _AFFINE_NAME.match(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = tensor.detach()
    layers: list[AffineLayer] = []
    ws_index = 0
    for resolution in sorted(found):
        block = found[resolution]
        convs = [c for c in ("conv0", "conv1") if c in block]
        for offset, conv in enumerate(convs):
            layers.append(AffineLayer(f"synthesis.b{resolution}.{conv}.affine.weight", ws_index + offset, block[conv]))
        if "torgb" in block:
            layers.append(AffineLayer(f"synthesis.b{resolution}.torgb.affine.weight", ws_index + len(convs),
                                      block["torgb"]))
        ws_index += len(convs)
    return layers


class GeneratorHandle:
    """A frozen generator on a device, with the latent-space operations direction search needs.

    ``truncation_psi`` is applied in the mapping (ψ = 1: none); ``class_index`` selects the class of a
    conditional generator (one-hot ``c``); ``noise_mode`` is passed to the synthesis network. ``fingerprint``,
    when known (another handle on the same module), spares hashing the weights again.
    """

    def __init__(self, generator: nn.Module, *, device: str | torch.device = "cpu", truncation_psi: float = 1.0,
                 noise_mode: str = "const", class_index: int | None = None, source: str | None = None,
                 fingerprint: str | None = None) -> None:
        for attr in ("z_dim", "w_dim", "num_ws", "img_channels", "img_resolution", "mapping", "synthesis",
                     "init_kwargs"):
            if not hasattr(generator, attr):
                raise UserError(f"the generator has no attribute {attr!r}; expected a StyleGAN2 generator "
                                f"(latentdirs.gan.Generator)")
        self.module = generator.to(device).eval().requires_grad_(False)
        self.device = torch.device(device)
        self.truncation_psi = float(truncation_psi)
        self.noise_mode = noise_mode
        self.source = source
        c_dim = int(getattr(generator, "c_dim", 0) or 0)
        if c_dim and class_index is None:
            raise UserError(f"the generator is conditional ({c_dim} classes): give a class index")
        if class_index is not None and not 0 <= class_index < max(c_dim, 1):
            raise UserError(f"class index {class_index} out of range for a generator with {c_dim} classes")
        self.c_dim = c_dim
        self.class_index = class_index if c_dim else None
        self._fingerprint = fingerprint

    # -- description --------------------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        return int(self.module.z_dim)

    @property
    def w_dim(self) -> int:
        return int(self.module.w_dim)

    @property
    def num_ws(self) -> int:
        return int(self.module.num_ws)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        res = int(self.module.img_resolution)
        return int(self.module.img_channels), res, res

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from ..gan import generator_fingerprint

            self._fingerprint = generator_fingerprint(self.module)
        return self._fingerprint

    def config(self) -> dict[str, Any]:
        """The generator's constructor arguments."""
        return _jsonable(self.module.init_kwargs)

    def describe(self) -> dict[str, Any]:
        """What a direction file records about the generator it was made with."""
        return {"fingerprint": self.fingerprint, "config": self.config(), "num_ws": self.num_ws,
                "source": self.source, "provenance": _jsonable(getattr(self.module, "source", None) or {}),
                "truncation_psi": self.truncation_psi, "class_index": self.class_index, "noise_mode": self.noise_mode}

    # -- latent codes and images --------------------------------------------------------------
    def sample_z(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` standard normal codes ``[n, z_dim]`` drawn with ``generator`` (on its device)."""
        z = torch.randn(n, self.z_dim, generator=generator, device=generator.device)
        return z.to(self.device)

    def _labels(self, n: int) -> torch.Tensor:
        c = torch.zeros(n, self.c_dim, device=self.device)
        if self.class_index is not None:
            c[:, self.class_index] = 1.0
        return c

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """``ws [N, num_ws, w_dim]`` for codes ``z [N, z_dim]`` (differentiable in ``z``)."""
        return self.module.mapping(z, self._labels(z.shape[0]), truncation_psi=self.truncation_psi)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` (about [-1, 1]) for ``ws [N, num_ws, w_dim]`` (differentiable in ``ws``)."""
        return self.module.synthesis(ws, noise_mode=self.noise_mode)

    def affine_layers(self) -> list[AffineLayer]:
        return affine_layers(self.module)


def load_handle(path: str, *, device: str | torch.device = "cpu", truncation_psi: float = 1.0,
                class_index: int | None = None) -> GeneratorHandle:
    """Load a generator file (StyleGAN2-ADA .pkl, rosinality .pt, or ours) with ``latentdirs.gan``."""
    from ..gan import load_generator

    generator = load_generator(path, device=device)
    return GeneratorHandle(generator, device=device, truncation_psi=truncation_psi, class_index=class_index,
                           source=str(path))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
