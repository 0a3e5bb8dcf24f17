"""Command-line pieces shared by the direction commands (generator options, opening a generator)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from ..seeding import resolve_device
from .generator import GeneratorHandle, load_handle
from .shifts import ShiftSampler
from .trainer import DiscoveryConfig


def generator_options(func: Callable) -> Callable:
    """``--generator``, ``--device``, ``--class-index`` (``--trunc`` is per command)."""
    func = click.option("--class-index", type=int, default=None,
                        help="Class of a conditional generator.")(func)
    func = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(func)
    func = click.option("--generator", "generator_path", required=True,
                        help="Generator file: StyleGAN2-ADA .pkl, rosinality .pt, or latentdirs safetensors.")(func)
    return func


def open_generator(path: str, device: str, truncation_psi: float = 1.0, class_index: int | None = None
                   ) -> GeneratorHandle:
    return load_handle(path, device=resolve_device(device), truncation_psi=truncation_psi, class_index=class_index)


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
