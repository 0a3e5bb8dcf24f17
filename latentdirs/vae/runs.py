"""Run directories of ``train-vae``: layout, checkpoints, and loading a trained model back.

A run directory holds::

    config.json          every option (re-run with ``train-vae --config config.json --out …``)
    README.txt           what the run is and how to continue or re-run it
    checkpoints/last.pt  model, optimizers, loss-term states, every RNG state, step (atomic)
    log.csv              mean loss terms per logging interval; tensorboard/ when available
    model.safetensors    final weights (+ config.json: all that :func:`load_trained` needs)
    summary.json         final losses, per-latent KL, timing, machine
    reconstructions.png  inputs (top) and reconstructions (bottom)
    traversals.png       one row per latent, largest KL first (summary.json traversal_rows):
                         z_d = μ_d + t, t ∈ −2…2, other latents at μ
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.base import GroundTruthData
from ..errors import UserError
from ..io import read_json, torch_load, torch_save
from .config import TrainConfig
from .models import VAE

CHECKPOINT_FORMAT = "latentdirs-vae-checkpoint"
CHECKPOINT_VERSION = 1


class RunDir:
    """Paths of one run directory (nothing is created until written)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    readme = property(lambda self: self.path / "README.txt")
    checkpoint = property(lambda self: self.path / "checkpoints" / "last.pt")
    log = property(lambda self: self.path / "log.csv")
    tensorboard = property(lambda self: self.path / "tensorboard")
    model = property(lambda self: self.path / "model.safetensors")
    summary = property(lambda self: self.path / "summary.json")
    reconstructions = property(lambda self: self.path / "reconstructions.png")
    traversals = property(lambda self: self.path / "traversals.png")

    def owned_paths(self) -> list[Path]:
        """Everything a run writes (what ``--overwrite`` removes; nothing else is touched)."""
        return [self.config, self.readme, self.checkpoint.parent, self.log, self.tensorboard, self.model,
                self.summary, self.reconstructions, self.traversals]

    def holds_run(self) -> bool:
        return self.config.is_file()

    def is_free(self) -> bool:
        """True when the directory is missing or empty (a new run may start there)."""
        return not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir()))

    def clear(self) -> None:
        for path in self.owned_paths():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def read_config(self) -> dict[str, Any]:
        return read_json(self.config, "run config")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    torch_save(path, {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state})


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`; a one-line UserError when it is not one."""
    state = torch_load(path, "checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is not a latentdirs VAE checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise UserError(
            f"checkpoint {path} has version {state.get('version')}; this latentdirs reads {CHECKPOINT_VERSION}"
        )
    return state


def load_dataset(config: TrainConfig) -> GroundTruthData:
    """The run's dataset by name (``latentdirs.data.get_dataset``)."""
    from ..data import get_dataset

    return get_dataset(config.dataset, config.data_path)


def build_model(config: TrainConfig, dataset: GroundTruthData) -> VAE:
    channels, height, width = dataset.observation_shape
    if (height, width) != (64, 64):
        raise UserError(f"dataset {config.dataset!r} has {height}×{width} images; the VAE expects 64×64")
    return VAE.build(config.latent_dim, channels, with_decoder=config.decoder)


def place_model(model: VAE, device: torch.device) -> VAE:
    """Move ``model`` to ``device``; on the CPU with channels-last weights (oneDNN's faster convolutions:
    training steps ~1.4× faster, ~1.5× with JL1). Trainer and :func:`load_trained` both use it, so a loaded
    model computes bit for bit what the trained one did."""
    model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cpu" else model


@dataclass
class TrainedVAE:
    """A trained model (eval mode) with its dataset and config."""

    model: VAE
    dataset: GroundTruthData
    config: dict[str, Any]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode_mean(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Posterior means μ(x) ``[N, D]`` (float32) of images ``[N, C, H, W]`` float32 in [0, 1]."""
        images = np.asarray(images, dtype=np.float32)
        expected = tuple(self.dataset.observation_shape)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise UserError(f"encode_mean: images must have shape [N, {', '.join(map(str, expected))}], "
                            f"got {list(images.shape)}")
        means = [
            self.model.encoder(torch.from_numpy(images[start : start + batch_size]).to(self.device))[0].cpu()
            for start in range(0, len(images), batch_size)
        ]
        return torch.cat(means).numpy() if means else np.zeros((0, self.model.latent_dim), np.float32)


def load_trained(run_dir: str | Path, device: str = "cpu", dataset: GroundTruthData | None = None) -> TrainedVAE:
    """Load a ``train-vae`` run: final ``model.safetensors`` (else the last checkpoint's weights)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..seeding import resolve_device
    from ..validation import require_finite_weights, safetensors_header

    run = RunDir(run_dir)
    if not run.path.is_dir():
        if run.path.exists():
            raise UserError(f"{run.path} is a file; expected a train-vae run directory")
        raise UserError(f"run directory not found: {run.path}")
    if not run.holds_run():
        raise UserError(f"{run.path} is not a train-vae run directory (no config.json)")
    config = TrainConfig.from_dict(run.read_config(), f"{run.config}")
    dataset = dataset if dataset is not None else load_dataset(config)
    model = build_model(config, dataset)
    if run.model.is_file():
        safetensors_header(run.model, "model file")
        try:
            weights = load_file(str(run.model))
        except (SafetensorError, OSError) as exc:
            raise UserError(f"model file {run.model} is corrupt ({exc})") from None
    elif run.checkpoint.is_file():
        weights = load_checkpoint(run.checkpoint)["model"]
    else:
        raise UserError(f"{run.path} holds no weights yet (neither model.safetensors nor checkpoints/last.pt)")
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]  # torch's first line is a title
        raise UserError(f"weights in {run.path} do not match its config.json "
                        f"({(details[0] if details else str(exc).strip())[:240]})") from None
    require_finite_weights(model, f"weights in {run.path}")
    place_model(model, resolve_device(device)).eval()
    return TrainedVAE(model=model, dataset=dataset, config=config.to_dict())
