"""Opening the generator of a direction command (its options are in ``latentdirs/commands/_options.py``), and
reading ``discover``'s settings from its parsed parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..distributed import local_device
from ..seeding import resolve_device
from ..validation import require_finite_weights
from .generator import GeneratorHandle, load_handle
from .shifts import ShiftSampler
from .trainer import DiscoveryConfig


def open_generator(path: str, device: str, truncation_psi: float = 1.0, class_index: int | None = None
                   ) -> GeneratorHandle:
    """The generator on ``device`` (under torchrun with several processes, a CUDA device is ``cuda:LOCAL_RANK``);
    a UserError when its weights hold NaN or ±inf."""
    handle = load_handle(path, device=local_device(resolve_device(device)), truncation_psi=truncation_psi,
                         class_index=class_index)
    require_finite_weights(handle.module, f"generator {path}")
    return handle


def discovery_config(params: Mapping[str, Any]) -> DiscoveryConfig:
    """The run settings in ``discover``'s parsed parameters (``click.Context.params``), checked."""
    sampler = ShiftSampler.parse(params["shift_range"])
    return DiscoveryConfig(
        method=params["method"], regs=list(params["regs"]), num_directions=params["num_directions"],
        space=params["space"], layers=params["layers"], parameterization=params["parameterization"],
        steps=params["steps"], batch_size=params["batch_size"], lr=params["lr"], shift_min=sampler.min_abs,
        shift_max=sampler.max_abs, seed=params["seed"], truncation_psi=params["trunc"],
        class_index=params["class_index"], stats_samples=params["stats_samples"], pca_samples=params["pca_samples"],
        sefa_torgb=params["sefa_torgb"], checkpoint_every=params["checkpoint_every"])
