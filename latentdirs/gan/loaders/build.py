"""Build our Generator from constructor kwargs and load a state dict strictly, with one-line errors.

The kwargs come from a file, so they are checked against the state dict's shapes (and sane ranges) before
anything is allocated (:mod:`latentdirs.gan.config`)."""

from __future__ import annotations

from typing import Any

import torch

from ...errors import UserError
from ..config import check_generator_config
from ..generator import Generator


def build_generator(
    kwargs: dict[str, Any], state: dict[str, torch.Tensor], what: str, source: dict[str, Any]
) -> Generator:
    """``Generator(**kwargs)`` with ``state`` loaded (``strict=True``), in eval mode, no gradients."""
    check_generator_config(kwargs, {name: tensor.shape for name, tensor in state.items()}, what)
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            raise UserError(f"{what}: {name} has dtype {tensor.dtype}, expected floating point")
    try:
        generator = Generator(**kwargs)
    except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(f"{what}: unsupported generator configuration {kwargs} ({first})") from None
    generator.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    generator.source = dict(source)
    return generator.eval().requires_grad_(False)
