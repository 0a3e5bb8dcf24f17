"""Ground-truth datasets: procedural renderers and loaders of the original files.

``get_dataset(name, path=None)`` is the one entry point; ``DATASET_NAMES`` lists the names.
Images are NCHW float32 in [0, 1], 64×64; factors are integer indices ``[N, K]``.
"""

from __future__ import annotations

from .base import GroundTruthData

DATASET_NAMES: tuple[str, ...] = ("dsprites",)


def get_dataset(name: str, path: str | None = None) -> GroundTruthData:
    """The dataset called ``name``.

    ``dsprites`` is rendered procedurally.
    """
    from ..errors import UserError

    key = name.strip().lower()
    if key == "dsprites":
        from .dsprites import DSprites

        if path is not None:
            raise UserError("dsprites: loading the original file is not available yet")
        return DSprites()
    raise UserError(f"unknown dataset {name!r}; available: {', '.join(DATASET_NAMES)}")


__all__ = ["DATASET_NAMES", "GroundTruthData", "get_dataset"]
