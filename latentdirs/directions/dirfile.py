"""Our direction file: one ``.safetensors`` file with the tensors and a JSON metadata record.

Tensors (float32): ``directions [K, d]`` (one direction per row), ``scales [K]`` (the standard
deviation of the sampled base codes projected on each unit direction — the natural unit of an edit
strength), ``mean [d]`` (mean base code), ``random_stdevs [K]`` (the same statistic along random unit
directions, a baseline), and optionally ``eigenvalues [K]`` (closed-form methods).

Metadata (the safetensors header's ``__metadata__["latentdirs"]``, a JSON object): ``format``
(``latentdirs-directions``), ``format_version``, ``latentdirs_version``, ``generator`` (weights
fingerprint, constructor config, source path, truncation ψ, class, noise mode), ``space`` (kind and W+
layers), ``parameterization``, ``method``, ``losses`` (the registry specs with their weights),
``steps``, ``seed``, ``total_variance`` (of the base codes, for explained-variance ratios) and
``extra`` (method-specific values). A file made for one generator is refused with another one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import UserError
from ..io import require_file, save_safetensors
from ..validation import NUM_WS, TRUNCATION, check_fits, safetensors_header
from .generator import GeneratorHandle
from .spaces import SPACE_KINDS, LatentSpace

FORMAT = "latentdirs-directions"
FORMAT_VERSION = 1
_TENSORS = ("directions", "scales", "mean", "random_stdevs", "eigenvalues")


@dataclass
class DirectionSet:
    """K directions with their statistics and provenance (see the module docstring)."""

    directions: torch.Tensor
    scales: torch.Tensor
    mean: torch.Tensor
    space: LatentSpace
    generator: dict[str, Any]
    method: str
    parameterization: str = "fixed"
    random_stdevs: torch.Tensor | None = None
    eigenvalues: torch.Tensor | None = None
    losses: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    seed: int | None = None
    total_variance: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directions = self.directions.detach().to("cpu", torch.float32).contiguous()
        k, d = self.directions.shape
        for name in ("scales", "mean", "random_stdevs", "eigenvalues"):
            value = getattr(self, name)
            if value is None:
                continue
            value = torch.as_tensor(value).detach().to("cpu", torch.float32).contiguous()
            expected = (d,) if name == "mean" else (k,)
            if tuple(value.shape) != expected:
                raise UserError(f"directions: {name} must have shape {list(expected)}, got {list(value.shape)}")
            setattr(self, name, value)
        if not torch.isfinite(self.directions).all():
            raise UserError("directions contain NaN or inf values")
        if k and not (self.directions.norm(dim=1) > 0).all():
            zero = int((self.directions.norm(dim=1) == 0).nonzero()[0, 0])
            raise UserError(f"directions: direction {zero} is all zeros (it moves nothing)")
        if not torch.isfinite(self.scales).all() or (self.scales < 0).any():
            raise UserError("directions: the scales (σ) must be finite and ≥ 0")
        for name in ("mean", "random_stdevs", "eigenvalues"):
            value = getattr(self, name)
            if value is not None and not torch.isfinite(value).all():
                raise UserError(f"directions: {name} holds NaN or inf values")
        if self.total_variance is not None and not math.isfinite(self.total_variance):
            raise UserError("directions: total_variance must be a finite number")

    @property
    def num_directions(self) -> int:
        return int(self.directions.shape[0])

    @property
    def dim(self) -> int:
        return int(self.directions.shape[1])

    def unit_directions(self) -> torch.Tensor:
        return self.directions / self.directions.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "latentdirs_version": __version__,
            "generator": self.generator, "space": self.space.describe(), "parameterization": self.parameterization,
            "method": self.method, "losses": self.losses, "steps": self.steps, "seed": self.seed,
            "num_directions": self.num_directions, "dim": self.dim, "total_variance": self.total_variance,
            "extra": self.extra,
        }

    def check_generator(self, handle: GeneratorHandle, what: str = "direction file") -> None:
        """UserError unless ``handle`` is the generator these directions were made for."""
        made_for = self.generator.get("fingerprint")
        if made_for != handle.fingerprint:
            source = self.generator.get("source") or "unknown file"
            raise UserError(
                f"{what} was made for another generator (weights {str(made_for)[:12]}…, from {source}); "
                f"the generator given has weights {handle.fingerprint[:12]}… — use the generator the "
                f"directions were made with, or re-import them for this one")
        expected = self.space.dim(handle)
        if expected != self.dim:
            raise UserError(f"{what}: directions have dimension {self.dim}, space {self.space} has {expected}")


def save_directions(path: str | os.PathLike, dset: DirectionSet) -> Path:
    """Write ``dset`` atomically as safetensors with the JSON metadata in the header."""
    tensors = {name: getattr(dset, name) for name in _TENSORS if getattr(dset, name) is not None}
    return save_safetensors(path, tensors, {"latentdirs": json.dumps(dset.metadata(), sort_keys=True)})


def load_directions(path: str | os.PathLike, handle: GeneratorHandle | None = None) -> DirectionSet:
    """Read a direction file; with ``handle``, also check that it belongs to that generator."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = require_file(path, "direction file")
    safetensors_header(path, "direction file")
    check_fits(2 * path.stat().st_size, f"direction file {path}")
    try:
        raw = path.read_bytes()
        tensors = load(raw)
        meta = _header_metadata(raw)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"direction file {path} is not a latentdirs direction file ({str(exc)[:160]})") from None
    record = meta.get("latentdirs")
    if record is None:
        raise UserError(f"{path} is a safetensors file without latentdirs direction metadata "
                        f"(to use GANSpace/InterFaceGAN/SeFa files, run `latentdirs import` first)")
    try:
        info = json.loads(record)
    except json.JSONDecodeError:
        raise UserError(f"direction file {path} has corrupt metadata") from None
    try:
        return _from_record(path, info, tensors, handle)
    except (AttributeError, TypeError, ValueError, OverflowError):  # a field of the wrong type or an absurd value
        raise UserError(f"direction file {path} has corrupt metadata (a field of the wrong type)") from None


def _from_record(path: Path, info: dict[str, Any], tensors: dict[str, torch.Tensor],
                 handle: GeneratorHandle | None) -> DirectionSet:
    if info.get("format") != FORMAT:
        raise UserError(f"{path} is not a latentdirs direction file (format {info.get('format')!r})")
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise UserError(f"{path} was written by a newer latentdirs (format version {info['format_version']})")
    missing = [name for name in ("directions", "scales", "mean") if name not in tensors]
    if missing:
        raise UserError(f"direction file {path} lacks the tensor(s) {', '.join(missing)}")
    space_info = info.get("space") or {}
    layers = space_info.get("layers")
    if space_info.get("kind") not in SPACE_KINDS:
        raise UserError(f"direction file {path} names an unknown latent space {space_info.get('kind')!r}")
    if layers is not None and not (isinstance(layers, list) and all(type(i) is int and 0 <= i < 4096 for i in layers)):
        raise UserError(f"direction file {path} names W+ layers {layers!r}; expected a list of layer indices")
    space = LatentSpace(str(space_info.get("kind")), tuple(layers) if layers is not None else None)
    generator = info.get("generator") or {}
    if not isinstance(generator, dict):
        raise UserError(f"direction file {path} has corrupt metadata (generator is not a record)")
    if generator.get("truncation_psi") is not None:
        TRUNCATION.check(generator["truncation_psi"], f"direction file {path}: truncation_psi")
    if generator.get("num_ws") is not None:
        NUM_WS.check(generator["num_ws"], f"direction file {path}: num_ws")
    try:
        dset = DirectionSet(
            directions=tensors["directions"], scales=tensors["scales"], mean=tensors["mean"], space=space,
            generator=generator, method=str(info.get("method")),
            parameterization=str(info.get("parameterization", "fixed")), random_stdevs=tensors.get("random_stdevs"),
            eigenvalues=tensors.get("eigenvalues"), losses=list(info.get("losses") or []),
            steps=int(info.get("steps") or 0), seed=info.get("seed"), total_variance=info.get("total_variance"),
            extra=dict(info.get("extra") or {}),
        )
    except UserError as exc:  # "directions: …" → the file that holds them
        raise UserError(f"direction file {path}: {str(exc).removeprefix('directions: ')}") from None
    if handle is not None:
        dset.check_generator(handle, f"direction file {path}")
    return dset


def _header_metadata(raw: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors byte string (8-byte little-endian length, JSON header)."""
    if len(raw) < 8:
        raise ValueError("file too short")
    size = int.from_bytes(raw[:8], "little")
    if size > len(raw) - 8:
        raise ValueError("header length beyond the end of the file")
    header = json.loads(raw[8 : 8 + size].decode("utf-8"))
    return dict(header.get("__metadata__") or {})
