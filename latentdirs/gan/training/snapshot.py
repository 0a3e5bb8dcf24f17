"""Exporting training snapshots in latentdirs' own generator format (``load_generator`` reads them)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from ..loaders.native import save_generator


def export_snapshot(G_ema: torch.nn.Module, stem: str | Path, info: dict[str, Any]) -> Path:
    """Write ``stem.safetensors`` + ``stem.json`` for a CPU copy of ``G_ema``; returns the JSON path."""
    generator = copy.deepcopy(G_ema).cpu().eval()
    return save_generator(generator, stem, provenance={"trained_by": "latentdirs train-gan", **info})
