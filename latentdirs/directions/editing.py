"""Editing with directions: shifts of a given strength and traversals along one direction.

A strength ``s`` along direction ``k`` moves a code by ``s · scale_k · â_k`` (``units="sigma"``: in
standard deviations of the sampled codes along the unit direction ``â_k``, GANSpace's convention) or
by ``s · a_k`` (``units="raw"``: the direction as learned, the shifts ε of Voynov–Babenko training).
Strength 0 adds an exact zero, so the original image is reproduced bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from .. import validation
from ..errors import UserError
from .dirfile import DirectionSet
from .generator import GeneratorHandle
from .spaces import LatentBatch, LatentSpace, SpaceRenderer

UNITS = ("sigma", "raw")


def parse_traverse(text: str) -> list[float]:
    """``"-3:3:7"`` → 7 evenly spaced strengths from -3 to 3 (checked by validation.parse_traverse)."""
    start, stop, count = validation.parse_traverse(text)
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


def combined_step(dset: DirectionSet, strengths: Mapping[int, float], units: str = "sigma") -> torch.Tensor:
    """``Σ_k s_k · v_k`` over the non-zero strengths ``{k: s_k}`` (``v_k``: :func:`direction_vector`), ``[d]``.

    Zero strengths add nothing (all zero: the zero vector), so one direction at strength ``s`` gives
    ``s · v_k`` exactly, the shift ``latentdirs edit -d k -s s`` applies.
    """
    step: torch.Tensor | None = None
    for k, strength in sorted(strengths.items()):
        vector = direction_vector(dset, int(k), units)
        if not math.isfinite(strength):
            raise UserError(f"strength of direction {k} must be a finite number, got {strength}")
        if strength != 0:
            step = strength * vector if step is None else step + strength * vector
    return step if step is not None else torch.zeros(dset.dim)


def edit_renderer(handle: GeneratorHandle, dset: DirectionSet, layers: str | None = None) -> SpaceRenderer:
    """The renderer of an edit: the directions' own space, or (``layers``) a W direction applied to those W+
    layers only."""
    space = dset.space
    if layers is not None:
        if space.kind == "z":
            raise UserError("--layers applies to W directions; these directions live in Z")
        space = LatentSpace.create("w", layers, handle.num_ws)
    return SpaceRenderer(handle, space)


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


def load_latent(path: str, renderer: SpaceRenderer) -> LatentBatch:
    """A code of the renderer's space from ``.npy``: z ``[1, z_dim]``, w ``[1, w_dim]`` or W+ ``[1, L, w_dim]``."""
    from ..io import read_npy

    return latent_from_array(read_npy(path, "latent"), renderer, str(path))


def latent_from_array(array: np.ndarray, renderer: SpaceRenderer, what: str = "latent") -> LatentBatch:
    """A code of the renderer's space from an array (shapes as for :func:`load_latent`); ``what`` names it in
    errors."""
    handle = renderer.handle
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise UserError(f"{what}: the latent must hold finite floating-point values")
    code = torch.from_numpy(np.asarray(array, np.float32)).to(handle.device)
    if code.ndim >= 1 and code.shape[0] == 1 and code.ndim > 1:
        code = code[0]
    if renderer.space.kind == "z":
        if tuple(code.shape) != (handle.z_dim,):
            raise UserError(f"{what}: directions live in Z, so the latent must be z of shape [1, {handle.z_dim}], "
                            f"got {list(array.shape)}")
        return renderer.from_z(code[None])
    if tuple(code.shape) == (handle.w_dim,):
        return renderer.from_ws(code[None, None, :].repeat(1, handle.num_ws, 1))
    if tuple(code.shape) == (handle.num_ws, handle.w_dim):
        return renderer.from_ws(code[None])
    raise UserError(f"{what}: expected w [1, {handle.w_dim}] or W+ [1, {handle.num_ws}, {handle.w_dim}], "
                    f"got {list(array.shape)}")


def seed_latent(seed: int, renderer: SpaceRenderer) -> LatentBatch:
    """The code of image ``seed``, drawn as ``latentdirs generate`` (and stylegan2-ada ``generate.py``) draw it."""
    return renderer.from_z(renderer.handle.module.z_from_seeds([seed]).to(renderer.handle.device))


def edit_images(open_handle, directions_path: str, *, seed: int | None, latent: str | None, direction: int,
                strength: float | None, traverse: str | None, units: str = "sigma", layers: str | None = None,
                truncation_psi: float | None = None) -> tuple[np.ndarray, int]:
    """Images ``[T, C, H, W]`` in [0, 1] of one code moved along one direction, and T.

    ``open_handle(psi)`` opens the generator (ψ defaults to the one the directions were made with).
    """
    from .dirfile import load_directions

    if (seed is None) == (latent is None):
        raise UserError("give exactly one of --seed and --latent")
    if (strength is None) == (traverse is None):
        raise UserError("give exactly one of --strength and --traverse")
    if strength is not None:
        validation.STRENGTH.check(strength, "--strength")
    strengths = [float(strength)] if strength is not None else parse_traverse(traverse)
    dset = load_directions(directions_path)
    psi = truncation_psi if truncation_psi is not None else float(dset.generator.get("truncation_psi", 1.0))
    handle = open_handle(psi)
    dset.check_generator(handle, f"direction file {directions_path}")
    renderer = edit_renderer(handle, dset, layers)
    batch = seed_latent(seed, renderer) if seed is not None else load_latent(latent, renderer)
    step = direction_vector(dset, direction, units)
    frames = traverse_images(renderer, batch, step, strengths)
    return frames, len(strengths)


def traverse_images(renderer: SpaceRenderer, batch: LatentBatch, step: torch.Tensor,
                    strengths: list[float]) -> np.ndarray:
    """``[T, C, H, W]`` in [0, 1] for a single code, each image rendered alone (bit-exact at strength 0); a
    UserError when a pixel comes out NaN or infinite (a strength far beyond the codes' spread)."""
    images = traverse(renderer, batch, step, strengths, one_at_a_time=True)[0]
    if not validation.all_finite(images):
        raise UserError(f"the edited image holds NaN or infinite pixels at strengths {strengths[0]:g}…"
                        f"{strengths[-1]:g}; use smaller strengths")
    return to_unit_range(images)


def png_bytes(images: np.ndarray, nrow: int, scale: int = 1) -> bytes:
    """Images ``[T, C, H, W]`` in [0, 1] as PNG bytes: a single image unpadded, several as a padded strip/grid."""
    import io

    from PIL import Image

    from ..io import image_grid

    picture = Image.fromarray(image_grid(images, nrow, padding=0 if len(images) == 1 else 2))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str, images: np.ndarray, nrow: int, scale: int = 1) -> None:
    """:func:`png_bytes` written atomically to ``path``."""
    from ..io import write_bytes

    write_bytes(path, png_bytes(images, nrow, scale))
