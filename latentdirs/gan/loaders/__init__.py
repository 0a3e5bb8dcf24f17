"""``load_generator(path)``: one entry point for every generator file format, chosen by content.

- StyleGAN2-ADA pickle (``.pkl``; a pickle stream) → :mod:`.pickle_ada` (restricted, never executed);
- rosinality checkpoint (``.pt``; a torch zip archive or legacy torch file) → :mod:`.rosinality`;
- latentdirs format (``NAME.safetensors`` + ``NAME.json``) → :mod:`.native`.

The file extension is not trusted; the first bytes decide.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ...errors import UserError
from ...io import sha256_file
from ..generator import Generator
from .native import generator_fingerprint, load_native, native_paths, save_generator
from .pickle_ada import load_ada_pickle
from .rosinality import load_rosinality

__all__ = ["detect_format", "generator_fingerprint", "load_generator", "native_paths", "save_generator"]

_TORCH_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
FORMATS = ("stylegan2-ada-pickle", "torch-checkpoint", "latentdirs")


def detect_format(path: str | Path) -> str:
    """One of :data:`FORMATS`, from the file's first bytes; a UserError for anything else."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a generator file (.pkl, .pt, or NAME.json / NAME.safetensors)")
    if not path.exists() and path.suffix == "" and native_paths(path)[1].is_file():
        return "latentdirs"
    if not path.exists():
        raise UserError(f"generator file not found: {path}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise UserError(f"{path} is empty, expected a generator file")
    if head.startswith(b"PK\x03\x04"):
        return "torch-checkpoint"
    if head[:1] == b"\x80" and head[2:4] == b"\x8a\x0a" and head[4:14] == _TORCH_LEGACY_MAGIC:
        return "torch-checkpoint"
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "stylegan2-ada-pickle"
    if len(head) > 8 and head[8:9] == b"{" or head.lstrip()[:1] == b"{":
        return "latentdirs"
    raise UserError(f"{path} is not a generator file this tool reads (expected a StyleGAN2-ADA .pkl pickle, a "
                    "rosinality .pt checkpoint, or a latentdirs NAME.safetensors + NAME.json)")


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Load a StyleGAN2 generator from any supported file, in eval mode without gradients.

    ``G.source`` says where it came from (format, file, sha256 of the file, notes). Nothing stored
    in the file is executed: pickles go through an allow-list unpickler, checkpoints through
    ``torch.load(weights_only=True)``, our own format is safetensors + JSON.
    """
    path = Path(path)
    kind = detect_format(path)
    file_sha256 = functools.partial(sha256_file, path)
    if kind == "stylegan2-ada-pickle":
        generator = load_ada_pickle(path, file_sha256)
    elif kind == "torch-checkpoint":
        generator = load_rosinality(path, file_sha256)
    else:
        generator = load_native(path)
    return generator.to(device)
