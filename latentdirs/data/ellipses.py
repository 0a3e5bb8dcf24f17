r"""Colour ellipses: one anti-aliased ellipse on a plain background, 64×64 RGB, seven known factors.

A ground-truth dataset made for GANs trained on a CPU budget: every edge is smooth (a generator that
can only draw smooth shapes can still draw every image of it), every factor is visible, and the grid
is small enough per factor that 1024 generated samples can cover it.

=============  ====  =====================================================================
factor         size  values
=============  ====  =====================================================================
object_hue     8     hue ``k / 8`` (red, orange-yellow, …), HSV saturation 0.8, value 0.95
background     4     grey level ``(0.05, 0.2, 0.35, 0.5)[k]`` (all three channels)
scale          6     semi-major axis ``a = linspace(7, 13, 6)`` px
aspect         4     semi-minor / semi-major ``b / a = linspace(0.35, 0.8, 4)``
orientation    10    major axis at ``k · π / 10`` counter-clockwise from the x axis (an ellipse
                     turned by π is the same image, so the grid stops short of π)
posX           16    centre ``x = linspace(16, 48, 16)`` px, left → right
posY           16    centre ``y = linspace(16, 48, 16)`` px, top → bottom
=============  ====  =====================================================================

7,864,320 combinations, row-major in this order. The map factors → image is injective: no aspect is 1
(a circle would make orientation invisible) and orientations cover half a turn.

Pixels. Pixel ``(row i, column j)`` covers ``[j, j+1) × [i, i+1)`` with its centre ``p`` at
``(j + ½, i + ½)``. In the ellipse's frame (``u`` along the major axis, ``v`` along the minor one,
``(u, v) = R(−θ)(p − c)`` with ``y`` pointing down on screen, so the ellipse turns counter-clockwise as
seen) the implicit function is ``g = (u/a)² + (v/b)² − 1`` and the first-order signed distance of the
pixel centre to the outline is

    d = g / ‖∇g‖,   ‖∇g‖ = 2 √(u²/a⁴ + v²/b⁴)

(exact on the outline). The object's coverage of the pixel is the linear ramp ``α = clip(½ − d, 0, 1)``
— the area of a unit pixel cut by a straight edge at distance ``d`` along an axis — and the colour is

    x = (1 − α) · background + α · object   (per channel, float32 in [0, 1]).

Against the exact box-filtered coverage (16 × 16 supersampling per pixel, 20 random images) ``α`` differs by
at most 0.072 per pixel and the object's area by +0.1 … +1.5 %.

So ``observations_from_factors`` is a pure function of the factors, deterministic to the bit.
The object colours are HSV ``(k/8, 0.8, 0.95)`` converted with the standard formula
(:func:`object_colours`); the background is grey, so object colour and background never coincide
(the smallest Euclidean RGB distance between an object colour and a background is 0.55).

Rendering is vectorised over the batch in a 32×32 window around each centre (the outline lies within
``a + 1 ≤ 14`` px of it), pasted into the canvas.
"""

from __future__ import annotations

import colorsys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import GroundTruthData, composite

IMAGE_SIZE = 64
WINDOW = 32
NUM_HUES = 8
SATURATION, VALUE = 0.8, 0.95
BACKGROUNDS = np.array([0.05, 0.2, 0.35, 0.5])
SEMI_MAJOR = np.linspace(7.0, 13.0, 6)
ASPECTS = np.linspace(0.35, 0.8, 4)
ORIENTATIONS = np.arange(10) * (np.pi / 10)
POSITIONS = np.linspace(16.0, 48.0, 16)


#: the factors that are geometry, in factor order: scale, aspect, orientation, posX, posY
GEOMETRY = (2, 3, 4, 5, 6)
_GRIDS = (SEMI_MAJOR, ASPECTS, ORIENTATIONS, POSITIONS, POSITIONS)


def geometry(factors: np.ndarray, offsets: np.ndarray | None = None) -> list[np.ndarray]:
    """``[a, b/a, θ, centre x, centre y]`` (each ``[N]``) of factor indices ``[N, 7]``; ``offsets`` ``[N, 5]`` (grid
    steps) move them between grid values: index ``k + δ`` reads the grid linearly interpolated, clipped at its ends
    (an orientation continues periodically: ``θ = (k + δ) · π / 10``)."""
    if offsets is None:
        return [grid[factors[:, i]] for i, grid in zip(GEOMETRY, _GRIDS, strict=True)]
    index = factors[:, GEOMETRY] + offsets
    return [index[:, j] * (np.pi / len(ORIENTATIONS)) if grid is ORIENTATIONS
            else np.interp(index[:, j], np.arange(len(grid)), grid) for j, grid in enumerate(_GRIDS)]


def object_colours() -> np.ndarray:
    """RGB ``[8, 3]`` float32 of the object hues: HSV ``(k / 8, 0.8, 0.95)``."""
    return np.array([colorsys.hsv_to_rgb(k / NUM_HUES, SATURATION, VALUE) for k in range(NUM_HUES)],
                    dtype=np.float32)


def background_colours() -> np.ndarray:
    """RGB ``[4, 3]`` float32 of the grey backgrounds."""
    return np.repeat(BACKGROUNDS[:, None], 3, axis=1).astype(np.float32)


class ColourEllipses(GroundTruthData):
    """One anti-aliased colour ellipse on a grey background (see the module docstring)."""

    name = "ellipses"
    factor_names = ("object_hue", "background", "scale", "aspect", "orientation", "posX", "posY")
    factor_sizes = (NUM_HUES, len(BACKGROUNDS), len(SEMI_MAJOR), len(ASPECTS), len(ORIENTATIONS),
                    len(POSITIONS), len(POSITIONS))
    observation_shape = (3, IMAGE_SIZE, IMAGE_SIZE)

    _objects = object_colours()
    _backgrounds = background_colours()

    #: the geometric factors (indices), whose values :meth:`coverage`'s offsets move between grid values
    geometric_factors = GEOMETRY

    def coverage(self, factors: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
        """The object's pixel coverage ``α`` ``[N, 64, 64]`` float32 in [0, 1] (the object mask, soft); ``offsets``
        ``[N, 5]`` draw the geometry between grid values (:func:`geometry`), e.g. to fit an off-grid drawing."""
        factors = self.check_factors(factors)
        if offsets is not None:
            offsets = np.asarray(offsets, dtype=np.float64)
            if offsets.shape != (len(factors), len(GEOMETRY)) or not np.isfinite(offsets).all():
                raise ValueError(f"offsets must be finite [{len(factors)}, {len(GEOMETRY)}], got {offsets.shape}")
        return self._coverage(factors, offsets)

    def _coverage(self, factors: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
        n = len(factors)
        semi_major, aspect, theta, centre_x, centre_y = geometry(factors, offsets)
        a = semi_major.astype(np.float32)[:, None, None]
        b = a * aspect.astype(np.float32)[:, None, None]
        cos = np.cos(theta).astype(np.float32)[:, None, None]
        sin = np.sin(theta).astype(np.float32)[:, None, None]
        origin_x = np.floor(centre_x).astype(np.int64) - WINDOW // 2
        origin_y = np.floor(centre_y).astype(np.int64) - WINDOW // 2
        pixel_centres = np.arange(WINDOW) + 0.5
        dx = ((origin_x - centre_x)[:, None] + pixel_centres).astype(np.float32)[:, None, :]  # [N, 1, W] columns
        dy = ((origin_y - centre_y)[:, None] + pixel_centres).astype(np.float32)[:, :, None]  # [N, W, 1] rows
        # Screen y points down: a counter-clockwise turn on screen by θ is (x, −y) turned by θ.
        u = cos * dx - sin * dy
        v = -sin * dx - cos * dy
        ua, vb = u / a, v / b
        g = ua * ua + vb * vb - 1.0
        gradient = 2.0 * np.sqrt(ua * ua / (a * a) + vb * vb / (b * b))
        distance = g / np.maximum(gradient, np.float32(1e-6))
        window = np.clip(np.float32(0.5) - distance, 0.0, 1.0)
        alpha = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        windows_of = sliding_window_view(alpha, (WINDOW, WINDOW), axis=(1, 2), writeable=True)
        windows_of[np.arange(n), origin_y, origin_x] = window
        return alpha

    def colours(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(object RGB [N, 3], background RGB [N, 3])`` float32 for factor indices ``[N, 7]``."""
        factors = self.check_factors(factors)
        return self._objects[factors[:, 0]], self._backgrounds[factors[:, 1]]

    def _render(self, factors: np.ndarray) -> np.ndarray:
        return composite(self._coverage(factors), self._objects[factors[:, 0]], self._backgrounds[factors[:, 1]])
