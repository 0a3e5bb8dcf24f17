"""Saving and loading a factor classifier: ``NAME.safetensors`` (weights) + ``NAME.json`` (config).

The JSON holds the constructor arguments (observation shape, factor names and sizes, widths, the
dataset name) and whatever provenance the caller adds (training settings, accuracy, sha256 of the
weights). Loading builds the network from the JSON and loads the weights strictly; nothing in the
files is executed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..errors import UserError
from ..io import read_json, require_file, save_safetensors, sha256_file, write_json
from .model import FactorClassifier

FORMAT = "latentdirs.factor_classifier/1"


def classifier_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights .safetensors, config .json)`` for ``path`` given with either suffix or none."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_factor_classifier(path: str | os.PathLike, classifier: FactorClassifier,
                           info: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write the weights and the JSON config (atomically); returns both paths."""
    weights_path, config_path = classifier_paths(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in classifier.state_dict().items()}
    save_safetensors(weights_path, tensors, {"format": FORMAT})
    write_json(config_path, {"format": FORMAT, "config": classifier.config, "info": info or {},
                             "weights_sha256": sha256_file(weights_path)})
    return weights_path, config_path


def load_factor_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> FactorClassifier:
    """Build the classifier described by the JSON and load its weights (eval mode)."""
    weights_path, config_path = classifier_paths(path)
    meta = read_json(config_path, "factor classifier config")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("config"), dict):
        raise UserError(f"{config_path} is not a latentdirs factor classifier config (expected format {FORMAT})")
    cfg = meta["config"]
    try:
        model = FactorClassifier(tuple(cfg["observation_shape"]), tuple(cfg["factor_sizes"]),
                                 tuple(cfg["factor_names"]), width=int(cfg["width"]), hidden=int(cfg["hidden"]),
                                 dataset=str(cfg.get("dataset", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{config_path}: incomplete factor classifier config ({exc})") from None
    require_file(weights_path, "factor classifier weights")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{weights_path} is not a readable safetensors file ({str(exc)[:200]})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{weights_path} does not match the config in {config_path} ({first[:200]})") from None
    return model.to(device).eval()
