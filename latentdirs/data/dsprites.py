"""Procedural dSprites: binary 64×64 sprites rendered on the fly from their five factors.

The factor grid is exactly that of the original file ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``
(Matthey, Higgins, Hassabis & Lerchner, 2017, https://github.com/deepmind/dsprites-dataset):

=============  ====  ======================================================
factor         size  values
=============  ====  ======================================================
shape          3     square, ellipse, heart
scale          6     ``linspace(0.5, 1, 6)``
orientation    40    ``linspace(0, 2π, 40)`` — both ends included, as in the
                     original, so indices 0 and 39 give the same image
posX           32    ``linspace(0, 1, 32)``, left → right
posY           32    ``linspace(0, 1, 32)``, top → bottom
=============  ====  ======================================================

737,280 combinations, row-major in this order (the order of the original file).

**The pixels are close to, not identical with, the original file.** The original sprites were
vector shapes drawn with Love2D on a canvas of normalised size 1 and rasterised without
anti-aliasing (dsprites-dataset issues #2 and #3); its exact sizes and heart outline are not
published. This renderer uses the same construction with documented choices:

* canvas coordinates ``(x, y)`` in pixels, ``x`` to the right, ``y`` down, pixel ``(row i,
  column j)`` covering ``[j, j+1) × [i, i+1)``; a pixel is on (1.0) when its centre
  ``(j + ½, i + ½)`` lies inside the shape (point sampling, binary, no anti-aliasing);
* sprite centre ``x = 64 · (¼ + ½ · posX)``, ``y = 64 · (¼ + ½ · posY)``: the centre sweeps the
  middle half of the image (16 … 48 px), which keeps every shape whole at every orientation;
* shapes are defined in sprite units of ``UNIT_PX · scale`` pixels (9.6 px at scale 1) and rotated
  by ``orientation`` counter-clockwise as seen on screen, about the sprite centre:

  - square: half-side 1 (19.2 px side at scale 1);
  - ellipse: semi-axes 1.4 (along x at orientation 0) and 0.7;
  - heart: two lobes (discs) and a point, width 2.2, upright (point down) at orientation 0,
    its bounding box centred on the sprite centre.

With these sizes the mean pixel value over the dataset is 0.0438 (std 0.205); the original file's is
about 0.043 (std 0.202).

The posX / posY values with index 15 (0.4839) and 16 (0.5161) straddle the image centre: a
scale-1 square at orientation 0 covers columns 22 … 40 at index 15 and 23 … 41 at index 16
(mirror images of each other about the centre line).

Rendering is vectorised over the whole batch (one numpy expression per shape over an
``[N, 32, 32]`` window that is pasted into the 64×64 canvas) and deterministic: images are a
pure function of the factors, and random batches depend only on the given ``RandomState``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import GroundTruthData

IMAGE_SIZE = 64
UNIT_PX = 9.6  # sprite unit in pixels at scale 1
WINDOW = 32  # side of the square window each sprite is rendered in (sprites reach ≤ 14 px from centre)

SHAPE_NAMES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)

ELLIPSE_AXES = (1.4, 0.7)

# Heart, in sprite units with v pointing up: two discs (lobes) of radius R centred at (±R, C_Y),
# touching at the top notch, and a point at (0, TIP_Y) joined to the lobes by their outer tangents.
# The outline is then scaled by HEART_SIZE and shifted so that its bounding box is centred.
_R = 0.5
_C_Y = 0.35
_TIP_Y = -1.0
HEART_SIZE = 1.1


def _heart_tangent_geometry() -> tuple[float, float]:
    """Slope ``|x| / (v − TIP_Y)`` of the outer tangents from the point to the lobes, and the height of the
    tangent points."""
    dx, dy = _R, _C_Y - _TIP_Y
    distance = np.hypot(dx, dy)
    angle = np.arctan2(dx, dy) + np.arcsin(_R / distance)  # tangent direction, measured from vertical
    tangent_point_v = _C_Y - _R * np.sin(angle)
    return float(np.tan(angle)), float(tangent_point_v)


_TAN_SLOPE, _TANGENT_V = _heart_tangent_geometry()
_HEART_TOP = _C_Y + _R
_HEART_SHIFT = -(_HEART_TOP + _TIP_Y) / 2.0  # centres the bounding box vertically


def _inside_square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)


def _inside_ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    a, b = ELLIPSE_AXES
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Heart membership; ``u`` right, ``v`` up, in sprite units."""
    x = np.abs(u) / HEART_SIZE
    y = v / HEART_SIZE - _HEART_SHIFT
    lobe = (x - _R) ** 2 + (y - _C_Y) ** 2 <= _R**2
    point = (y >= _TIP_Y) & (y <= _TANGENT_V) & (x <= (y - _TIP_Y) * _TAN_SLOPE)
    middle = (x <= _R) & (y >= _TANGENT_V) & (y <= _C_Y)
    return lobe | point | middle


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


class DSprites(GroundTruthData):
    """Procedural dSprites (see the module docstring; pixels close to, not identical with, the original)."""

    name = "dsprites"
    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    factor_sizes = (3, 6, 40, 32, 32)
    observation_shape = (1, IMAGE_SIZE, IMAGE_SIZE)

    # cos / sin per orientation index; 2π is reduced to 0 so that indices 0 and 39 agree exactly.
    _cos = np.cos(np.mod(ORIENTATIONS, 2.0 * np.pi))
    _sin = np.sin(np.mod(ORIENTATIONS, 2.0 * np.pi))

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """Real values ``[N, 5]`` of factor indices: shape index, scale, orientation (rad), posX, posY."""
        f = self.check_factors(factors)
        columns = [f[:, 0].astype(np.float64), SCALES[f[:, 1]], ORIENTATIONS[f[:, 2]]]
        return np.stack(columns + [POSITIONS[f[:, 3]], POSITIONS[f[:, 4]]], axis=1)

    def _render(self, factors: np.ndarray) -> np.ndarray:
        n = len(factors)
        order = np.argsort(factors[:, 0], kind="stable")  # group the batch by shape
        factors = factors[order]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(factors[:, 0], minlength=len(_INSIDE)))])
        centre_x = IMAGE_SIZE * (0.25 + 0.5 * POSITIONS[factors[:, 3]])
        centre_y = IMAGE_SIZE * (0.25 + 0.5 * POSITIONS[factors[:, 4]])
        # Window origin (integer pixel) so that the sprite lies inside [origin, origin + WINDOW).
        origin_x = np.clip(np.floor(centre_x).astype(np.int64) - WINDOW // 2, 0, IMAGE_SIZE - WINDOW)
        origin_y = np.clip(np.floor(centre_y).astype(np.int64) - WINDOW // 2, 0, IMAGE_SIZE - WINDOW)
        offsets = np.arange(WINDOW) + 0.5
        inv_size = 1.0 / (UNIT_PX * SCALES[factors[:, 1]])
        # Pixel-centre offsets from the sprite centre in sprite units: x [N, 1, W] along columns and
        # y [N, W, 1] along rows, flipped to point up.
        x = (((origin_x - centre_x)[:, None] + offsets) * inv_size[:, None]).astype(np.float32)[:, None, :]
        y = (-((origin_y - centre_y)[:, None] + offsets) * inv_size[:, None]).astype(np.float32)[:, :, None]
        cos = self._cos[factors[:, 2]].astype(np.float32)[:, None, None]
        sin = self._sin[factors[:, 2]].astype(np.float32)[:, None, None]
        # Rotate the offsets by −θ into the sprite frame (u right, v up): the sprite appears rotated
        # counter-clockwise by θ on screen.
        window = np.empty((n, WINDOW, WINDOW), dtype=bool)
        for shape_index, inside in enumerate(_INSIDE):
            part = slice(bounds[shape_index], bounds[shape_index + 1])
            c, s, xp, yp = cos[part], sin[part], x[part], y[part]
            window[part] = inside(c * xp + s * yp, c * yp - s * xp)
        images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        windows_of = sliding_window_view(images, (WINDOW, WINDOW), axis=(1, 2), writeable=True)
        windows_of[order, origin_y, origin_x] = window  # each sprite's window back into its own image
        return images[:, None, :, :]
