"""Build our Generator from constructor kwargs and load a state dict strictly, with one-line errors."""

from __future__ import annotations

from typing import Any

import torch

from ...errors import UserError
from ..generator import Generator


def build_generator(
    kwargs: dict[str, Any], state: dict[str, torch.Tensor], what: str, source: dict[str, Any]
) -> Generator:
    """``Generator(**kwargs)`` with ``state`` loaded (``strict=True``), in eval mode, no gradients."""
    try:
        generator = Generator(**kwargs)
    except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(f"{what}: unsupported generator configuration {kwargs} ({first})") from None
    expected = generator.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise UserError(f"{what}: weights do not match the StyleGAN2 configuration {kwargs}: "
                        f"missing {missing[:5]}{' …' if len(missing) > 5 else ''}, "
                        f"unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise UserError(f"{what}: {name} has shape {list(tensor.shape)}, expected {list(expected[name].shape)}")
        if not tensor.is_floating_point():
            raise UserError(f"{what}: {name} has dtype {tensor.dtype}, expected floating point")
    generator.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    generator.source = dict(source)
    return generator.eval().requires_grad_(False)
