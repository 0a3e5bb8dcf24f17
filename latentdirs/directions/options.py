"""Opening the generator of a direction command (its options are in ``latentdirs/commands/_options.py``)."""

from __future__ import annotations

from ..distributed import local_device
from ..seeding import resolve_device
from ..validation import require_finite_weights
from .generator import GeneratorHandle, load_handle


def open_generator(path: str, device: str, truncation_psi: float = 1.0, class_index: int | None = None
                   ) -> GeneratorHandle:
    """The generator on ``device`` (under torchrun with several processes, a CUDA device is ``cuda:LOCAL_RANK``);
    a UserError when its weights hold NaN or ±inf."""
    handle = load_handle(path, device=local_device(resolve_device(device)), truncation_psi=truncation_psi,
                         class_index=class_index)
    require_finite_weights(handle.module, f"generator {path}")
    return handle
