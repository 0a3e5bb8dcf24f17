"""Latent spaces that directions live in: Z, W, and W+ restricted to a set of layers.

- ``z``: the input codes, ``d = z_dim``; a shift δ gives ``ws = mapping(z + δ)``.
- ``w``: the intermediate codes, ``d = w_dim``; the base is ``ws = mapping(z)`` ``[N, num_ws, w_dim]``
  and a shift δ ``[N, w_dim]`` is added to every layer: ``ws'[:, l] = ws[:, l] + δ``.
- ``w+``: as ``w`` but the shift is added only to the chosen layers ``L`` (W+ indices) — the usual
  way of confining an edit to coarse or fine features; the other layers keep their codes.

The point a direction acts on (``base``, what projections ``t = ⟨w, a⟩`` are measured on) is ``z``
in Z and the code of the first chosen layer in W/W+ (all layers hold the same ``w`` unless a
truncation cutoff is used).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UserError
from .generator import GeneratorHandle

SPACE_KINDS = ("z", "w", "w+")


def parse_layers(text: str | None, num_ws: int | None = None) -> tuple[int, ...] | None:
    """``"all"``/``None`` → ``None`` (every layer); ``"0-5"`` (inclusive), ``"3"``, ``"0-3,8"`` → sorted indices."""
    if text is None or str(text).strip().lower() in ("", "all"):
        return None
    indices: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            start = int(lo)
            stop = int(hi) if sep else start
        except ValueError:
            raise UserError(f"bad layer range {text!r}; expected e.g. 0-5 (inclusive), 3, 0-3,8 or all") from None
        if start < 0 or stop < start:
            raise UserError(f"bad layer range {part!r} in {text!r}: need 0 <= start <= stop")
        indices.update(range(start, stop + 1))
    layers = tuple(sorted(indices))
    if num_ws is not None and layers[-1] >= num_ws:
        raise UserError(f"layer {layers[-1]} does not exist: this generator has W+ layers 0-{num_ws - 1}")
    return layers


def format_layers(layers: tuple[int, ...] | None) -> str:
    """Inverse of :func:`parse_layers` (compact ``a-b`` runs)."""
    if layers is None:
        return "all"
    runs: list[str] = []
    start = prev = layers[0]
    for index in (*layers[1:], None):
        if index is not None and index == prev + 1:
            prev = index
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if index is not None:
            start = prev = index
    return ",".join(runs)


@dataclass(frozen=True)
class LatentSpace:
    """Where directions act: ``kind`` in ``z``/``w``/``w+`` and, for ``w+``, the W+ layer indices."""

    kind: str
    layers: tuple[int, ...] | None = None

    @staticmethod
    def create(kind: str, layers: str | tuple[int, ...] | None, num_ws: int) -> LatentSpace:
        """Normalize: ``w`` restricted to some layers is ``w+``; ``w+`` over every layer is ``w``."""
        kind = kind.lower()
        if kind not in SPACE_KINDS:
            raise UserError(f"unknown latent space {kind!r}; expected one of {', '.join(SPACE_KINDS)}")
        chosen = parse_layers(layers, num_ws) if isinstance(layers, (str, type(None))) else tuple(sorted(layers))
        if chosen is not None and (chosen[0] < 0 or chosen[-1] >= num_ws):
            raise UserError(f"layers {format_layers(chosen)} out of range: this generator has W+ layers 0-{num_ws - 1}")
        if kind == "z":
            if chosen is not None and chosen != tuple(range(num_ws)):
                raise UserError("a layer range applies to the w/w+ spaces only, not to z")
            return LatentSpace("z", None)
        if chosen is None or chosen == tuple(range(num_ws)):
            return LatentSpace("w", None)
        return LatentSpace("w+", chosen)

    def dim(self, handle: GeneratorHandle) -> int:
        return handle.z_dim if self.kind == "z" else handle.w_dim

    def describe(self) -> dict:
        return {"kind": self.kind, "layers": list(self.layers) if self.layers is not None else None}

    def __str__(self) -> str:
        return self.kind if self.layers is None else f"{self.kind}[{format_layers(self.layers)}]"


@dataclass
class LatentBatch:
    """Base codes of a batch: ``z [N, z_dim]``, ``ws [N, num_ws, w_dim]`` and ``base [N, d]`` in the space."""

    z: torch.Tensor
    ws: torch.Tensor
    base: torch.Tensor

    def select(self, index: torch.Tensor) -> LatentBatch:
        return LatentBatch(self.z[index], self.ws[index], self.base[index])


class SpaceRenderer:
    """Codes and images for one space of one generator (the generator stays frozen)."""

    def __init__(self, handle: GeneratorHandle, space: LatentSpace) -> None:
        self.handle = handle
        self.space = space
        self.dim = space.dim(handle)
        if space.kind == "w+":
            mask = torch.zeros(handle.num_ws, device=handle.device)
            mask[list(space.layers)] = 1.0
            self._layer_mask: torch.Tensor | None = mask[None, :, None]
        else:
            self._layer_mask = None

    def sample(self, n: int, generator: torch.Generator) -> LatentBatch:
        """``n`` base codes from ``z ~ N(0, I)`` drawn with ``generator``."""
        with torch.no_grad():
            return self.from_z(self.handle.sample_z(n, generator))

    def from_z(self, z: torch.Tensor) -> LatentBatch:
        with torch.no_grad():
            ws = self.handle.mapping(z)
        return LatentBatch(z, ws, self._base_of(z, ws))

    def from_ws(self, ws: torch.Tensor) -> LatentBatch:
        """A batch from given W+ codes (e.g. inverted images); not available in Z."""
        if self.space.kind == "z":
            raise UserError("a W/W+ latent was given but the directions live in Z; give a z latent or a seed")
        if ws.ndim != 3 or tuple(ws.shape[1:]) != (self.handle.num_ws, self.handle.w_dim):
            raise UserError(f"W+ latents must have shape [N, {self.handle.num_ws}, {self.handle.w_dim}], "
                            f"got {list(ws.shape)}")
        z = torch.full((ws.shape[0], self.handle.z_dim), float("nan"), device=ws.device)
        return LatentBatch(z, ws, self._base_of(z, ws))

    def _base_of(self, z: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        if self.space.kind == "z":
            return z
        first = self.space.layers[0] if self.space.layers is not None else 0
        return ws[:, first]

    def shifted_ws(self, batch: LatentBatch, delta: torch.Tensor) -> torch.Tensor:
        """W+ codes of ``base + delta`` (``delta [N, d]``), differentiable in ``delta``."""
        if delta.shape != batch.base.shape:
            raise ValueError(f"shift of shape {list(delta.shape)} for base codes {list(batch.base.shape)}")
        if self.space.kind == "z":
            return self.handle.mapping(batch.z + delta)
        step = delta[:, None, :]
        if self._layer_mask is not None:
            step = step * self._layer_mask
        return batch.ws + step

    def render(self, batch: LatentBatch, delta: torch.Tensor | None = None) -> torch.Tensor:
        """Images of ``base + delta`` (of ``base`` when ``delta`` is None), ``[N, C, H, W]`` in about [-1, 1]."""
        ws = batch.ws if delta is None else self.shifted_ws(batch, delta)
        return self.handle.synthesis(ws)
