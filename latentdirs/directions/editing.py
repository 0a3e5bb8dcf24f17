"""Editing with directions: shifts of a given strength and traversals along one direction.

A strength ``s`` along direction ``k`` moves a code by ``s · scale_k · â_k`` (``units="sigma"``: in
standard deviations of the sampled codes along the unit direction ``â_k``, GANSpace's convention) or
by ``s · a_k`` (``units="raw"``: the direction as learned, the shifts ε of Voynov–Babenko training).
Strength 0 adds an exact zero, so the original image is reproduced bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .dirfile import DirectionSet
from .spaces import LatentBatch, SpaceRenderer

UNITS = ("sigma", "raw")


def parse_traverse(text: str) -> list[float]:
    """``"-3:3:7"`` → 7 evenly spaced strengths from -3 to 3."""
    parts = str(text).split(":")
    try:
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise UserError(f"bad traversal {text!r}; expected START:STOP:COUNT, e.g. -3:3:7") from None
    if count < 1 or count > 1000:
        raise UserError(f"traversal count must be between 1 and 1000, got {count}")
    return [float(v) for v in np.linspace(start, stop, count)] if count > 1 else [start]


def direction_vector(dset: DirectionSet, k: int, units: str = "sigma") -> torch.Tensor:
    """The shift of strength 1 along direction ``k``, ``[d]``."""
    if not 0 <= k < dset.num_directions:
        raise UserError(f"direction {k} does not exist; the file has directions 0-{dset.num_directions - 1}")
    if units == "sigma":
        return dset.unit_directions()[k] * dset.scales[k]
    if units == "raw":
        return dset.directions[k]
    raise UserError(f"unknown units {units!r}; expected one of {', '.join(UNITS)}")


def traverse(renderer: SpaceRenderer, batch: LatentBatch, step: torch.Tensor, strengths: list[float],
             one_at_a_time: bool = False) -> torch.Tensor:
    """Images ``[N, T, C, H, W]`` of ``base + s·step`` for each strength ``s`` (no gradient).

    ``one_at_a_time`` renders every image in a batch of one, so that each equals the image a single
    render of its code gives (batched convolutions may round differently).
    """
    step = step.to(batch.base.device, batch.base.dtype)
    frames = []
    with torch.no_grad():
        for strength in strengths:
            delta = (strength * step)[None, :].expand_as(batch.base)
            if one_at_a_time:
                images = torch.cat([renderer.render(batch.select(torch.tensor([i], device=batch.base.device)),
                                                    delta[i : i + 1]) for i in range(batch.base.shape[0])])
            else:
                images = renderer.render(batch, delta)
            frames.append(images)
    return torch.stack(frames, dim=1)


def to_unit_range(images: torch.Tensor) -> np.ndarray:
    """Generator output (about [-1, 1]) → float32 numpy in [0, 1]."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
