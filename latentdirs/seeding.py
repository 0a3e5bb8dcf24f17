"""Random state: explicit generators, and capture/restore of every RNG a run uses."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global RNGs (used only where a library reads them implicitly)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """Global RNG states, for checkpoints (resume must continue bit for bit).

    Only tensors and plain Python values, so the result loads with ``torch.load(weights_only=True)``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; ``cpu``/``cuda``/``cuda:N``/``mps`` as given, when present
    (a UserError for any other name, a missing GPU or a CUDA index beyond the devices)."""
    from .errors import UserError
    from .validation import check_device_name

    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} was asked for but no CUDA device is available (use cpu or auto)")
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name} was asked for but MPS is not available (use cpu or auto)")
    return device


def random_state_to_tensor_dict(rs: np.random.RandomState) -> dict[str, Any]:
    """A ``RandomState``'s state in a weights-only-loadable form (for checkpoints)."""
    kind, keys, pos, has_gauss, cached = rs.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def random_state_from_tensor_dict(state: dict[str, Any]) -> np.random.RandomState:
    rs = np.random.RandomState()
    rs.set_state((state["kind"], state["keys"].numpy().astype(np.uint32), state["pos"],
                  state["has_gauss"], state["cached"]))
    return rs
