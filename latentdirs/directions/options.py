"""Command-line pieces shared by the direction commands (generator options, opening a generator)."""

from __future__ import annotations

from collections.abc import Callable

import click

from ..distributed import local_device
from ..seeding import resolve_device
from .generator import GeneratorHandle, load_handle


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
    """The generator on ``device`` (under torchrun with several processes, a CUDA device is ``cuda:LOCAL_RANK``)."""
    return load_handle(path, device=local_device(resolve_device(device)), truncation_psi=truncation_psi,
                       class_index=class_index)
