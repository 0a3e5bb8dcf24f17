"""latentdirs' own generator format: ``NAME.safetensors`` (weights) + ``NAME.json`` (how to build it).

The JSON holds ``format``, ``format_version``, ``init_kwargs`` (the Generator's constructor
arguments, stylegan2-ada-pytorch names), ``num_ws``, ``weights`` (the file name beside it),
``weights_sha256`` (of that file, checked on load), ``fingerprint`` (see :func:`generator_fingerprint`)
and ``provenance`` (where the weights came from). Tensor names are the official state-dict names.
Nothing in either file is executable.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ... import __version__
from ...errors import UserError
from ...io import read_json, save_safetensors, sha256_file, write_json
from ..config import check_generator_config
from ..generator import Generator
from .build import build_generator

FORMAT = "latentdirs-stylegan2"
FORMAT_VERSION = 1


def native_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights.safetensors, config.json)`` for ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def generator_fingerprint(generator: Generator) -> str:
    """sha256 of the full configuration and every state-dict tensor (name, dtype, shape, bytes).

    Independent of the file format: the same weights give the same fingerprint whether they were
    read from a pickle, a rosinality checkpoint or our safetensors file.
    """
    digest = hashlib.sha256(json.dumps(generator.full_config(), sort_keys=True).encode())
    for name, tensor in sorted(generator.state_dict().items()):
        tensor = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def save_generator(generator: Generator, path: str | Path, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``NAME.safetensors`` then ``NAME.json`` (both atomically); returns the JSON path."""
    weights_path, config_path = native_paths(path)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in generator.state_dict().items()}
    save_safetensors(weights_path, tensors, {"format": FORMAT, "config": config_path.name})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": "stylegan2",
        "init_kwargs": generator.init_kwargs,
        "num_ws": generator.num_ws,
        "weights": weights_path.name,
        "weights_sha256": sha256_file(weights_path),
        "fingerprint": generator_fingerprint(generator),
        "provenance": dict(provenance if provenance is not None else generator.source),
        "latentdirs_version": __version__,
    }
    write_json(config_path, config)
    return config_path


def read_config(config_path: Path) -> dict[str, Any]:
    config = read_json(config_path, "generator config")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UserError(f"{config_path} is not a latentdirs generator config (expected \"format\": \"{FORMAT}\")")
    if config.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{config_path} has format_version {config.get('format_version')}; this latentdirs reads "
                        f"version {FORMAT_VERSION}")
    for key in ("init_kwargs", "weights", "weights_sha256"):
        if key not in config:
            raise UserError(f"{config_path} lacks the field {key!r}")
    return config


def load_native(path: str | Path) -> Generator:
    """Generator from ``NAME.json`` / ``NAME.safetensors``; the weights' sha256 must match the JSON, and the
    configuration the tensor shapes in the weights' header (nothing is loaded or built before both hold)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    weights_path, config_path = native_paths(path)
    if not config_path.is_file():
        raise UserError(f"{path}: the generator config {config_path.name} was not found beside the weights "
                        "(a latentdirs generator is NAME.safetensors + NAME.json)")
    config = read_config(config_path)
    weights_path = config_path.with_name(Path(config["weights"]).name)
    if not weights_path.is_file():
        raise UserError(f"{config_path}: its weights file {weights_path} was not found")
    digest = sha256_file(weights_path)
    if digest != config["weights_sha256"]:
        raise UserError(f"{weights_path} does not match {config_path.name} (sha256 {digest[:12]}…, expected "
                        f"{str(config['weights_sha256'])[:12]}…): the weights were changed or replaced")
    try:
        with safe_open(str(weights_path), "pt") as header:
            shapes = {name: header.get_slice(name).get_shape() for name in header.keys()}
        check_generator_config(config["init_kwargs"], shapes, str(config_path))
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{weights_path} is not a readable safetensors file ({exc})") from None
    source = {"format": "latentdirs", "file": config_path.name, "sha256": digest,
              "provenance": config.get("provenance", {})}
    return build_generator(config["init_kwargs"], state, str(config_path), source)
