"""threeDots: three black anti-aliased discs on a white 64×64 greyscale image.

The dataset of the JL1-VAE paper (Rhodes & Lee, "Local Disentanglement in Variational Auto-Encoders
Using Jacobian L1 Regularization", NeurIPS 2021, arXiv 2106.02923; reference implementation
``travers-rhodes/jlonevae``, ``threeDots.py``), a grey-scale variant of the dots data of Zhao et al.
(2018) in which discs may overlap:

* six factors ``x1, y1, x2, y2, x3, y3`` with 64 values each: disc ``k`` has its centre at
  ``(x_k, y_k) / 63`` of the image side, ``x`` to the right and ``y`` down, ``(0, 0)`` the top-left
  corner — in pixel coordinates (pixel ``(row i, column j)`` covering ``[j, j+1) × [i, i+1)``) the
  centre is at ``64 · index / 63``, so discs at index 0 or 63 are half outside the image;
* radius ``0.08`` of the image side, 5.12 px;
* background 1.0 (white), discs 0.0 (black), overlapping discs form their union;
* 64⁶ ≈ 6.9·10¹⁰ combinations (row-major in the factor order above). The map is not injective:
  permuting the three discs gives the same image.

Anti-aliasing. The reference draws on a 10× larger canvas with OpenCV and averages 10×10 blocks
(``INTER_AREA``), so its grey levels are multiples of 0.01 and its centres sit 0.05 px right/down of
``64 · index / 63``. Here the darkness of a pixel is an *analytic pixel coverage* instead: for each
disc, the area of the unit pixel square on the inner side of the disc's tangent line nearest the pixel
centre ``p`` — the exact coverage of a straight edge at signed distance ``s = |p − c| − r`` with
normal ``(cos φ, sin φ)`` along ``p − c``:

    coverage = P(a·U₁ + b·U₂ ≤ −s),   U₁, U₂ ~ U(−½, ½),   a = max(|cos φ|, |sin φ|), b = min(…)

(a trapezoid CDF, closed form in :func:`edge_coverage`); the union of the discs takes the largest
coverage per pixel. Versus exact box-filtered disc coverage (64×64 supersampling) the error is below
0.02 per pixel (the curvature of a 5.12 px disc) and the dark area exceeds πr² by about 0.3 % (a
tangent half-plane contains the disc); only pixels where two discs' edges cross are less exact.
So the pixels are close to, not identical with, the reference renderer's.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import GroundTruthData

IMAGE_SIZE = 64
GRANULARITY = 64
NUM_DOTS = 3
RADIUS_PX = 0.08 * IMAGE_SIZE  # 5.12
_WINDOW = 14  # pixels per side of the window around one disc (coverage is 0 beyond r + √½ from the centre)


def edge_coverage(signed_distance: np.ndarray, normal_x: np.ndarray, normal_y: np.ndarray) -> np.ndarray:
    """Area of the unit pixel square on the inner side of a straight edge.

    The edge passes at ``signed_distance`` from the pixel centre (positive: the centre is outside), with
    unit normal ``(normal_x, normal_y)``. With ``a ≥ b`` the absolute normal components and
    ``t = −signed_distance``, the covered area is the CDF at ``t`` of ``a·U₁ + b·U₂`` (``U ~ U(−½, ½)``):
    ``(t + (a+b)/2)² / 2ab`` on the lower ramp, ``½ + t/a`` on the plateau, and symmetric above.
    """
    a = np.maximum(np.abs(normal_x), np.abs(normal_y))
    b = np.minimum(np.abs(normal_x), np.abs(normal_y))
    t = -signed_distance
    half_sum, half_diff = (a + b) / 2, (a - b) / 2
    two_ab = np.maximum(2 * a * b, np.asarray(1e-12, dtype=a.dtype))
    lower = np.square(np.maximum(t + half_sum, 0)) / two_ab  # 0 below the ramp
    upper = 1 - np.square(np.maximum(half_sum - t, 0)) / two_ab  # 1 above the ramp
    middle = 0.5 + t / a
    coverage = np.where(t <= -half_diff, lower, np.where(t >= half_diff, upper, middle))
    return np.clip(coverage, 0, 1)


class ThreeDots(GroundTruthData):
    """threeDots of the JL1-VAE paper (see the module docstring; analytic anti-aliasing)."""

    name = "threedots"
    factor_names = ("x1", "y1", "x2", "y2", "x3", "y3")
    factor_sizes = (GRANULARITY,) * (2 * NUM_DOTS)
    observation_shape = (1, IMAGE_SIZE, IMAGE_SIZE)

    def dot_centres(self, factors: np.ndarray) -> np.ndarray:
        """Disc centres in pixel coordinates ``[N, 3, 2]`` (x, y) for factor indices ``[N, 6]``."""
        factors = self.check_factors(factors)
        return factors.reshape(-1, NUM_DOTS, 2) * (IMAGE_SIZE / (GRANULARITY - 1))

    def _render(self, factors: np.ndarray) -> np.ndarray:
        n = len(factors)
        centres = factors.reshape(n, NUM_DOTS, 2) * (IMAGE_SIZE / (GRANULARITY - 1))
        images = np.ones((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        windows_of = sliding_window_view(images, (_WINDOW, _WINDOW), axis=(1, 2), writeable=True)
        batch = np.arange(n)
        steps = np.arange(_WINDOW) + 0.5
        band = np.float32(np.sqrt(0.5))  # pixels farther than this from the edge are fully in or out
        for k in range(NUM_DOTS):
            cx, cy = centres[:, k, 0], centres[:, k, 1]
            # Window origin: around the disc, moved inside the image for discs near the border.
            start_x = np.clip(np.floor(cx).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW)
            start_y = np.clip(np.floor(cy).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW)
            # pixel centre − disc centre: dx [N, 1, W] along columns, dy [N, W, 1] along rows
            dx = ((start_x - cx)[:, None] + steps).astype(np.float32)[:, None, :]
            dy = ((start_y - cy)[:, None] + steps).astype(np.float32)[:, :, None]
            distance = np.sqrt(dx * dx + dy * dy)
            signed = distance - np.float32(RADIUS_PX)
            coverage = (signed < 0).astype(np.float32)
            rim = np.abs(signed) < band
            d = distance[rim]
            coverage[rim] = edge_coverage(signed[rim], np.broadcast_to(dx, rim.shape)[rim] / d,
                                          np.broadcast_to(dy, rim.shape)[rim] / d)
            windows_of[batch, start_y, start_x] = np.minimum(windows_of[batch, start_y, start_x], 1 - coverage)
        return images[:, None, :, :]
