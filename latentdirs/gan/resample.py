"""FIR resampling of feature maps in plain PyTorch (the "upfirdn2d" mathematics of StyleGAN2).

``upfirdn2d(x, f, up, down, pad)`` does, per channel:

1. upsample by inserting ``up - 1`` zeros after every sample (rows and columns);
2. pad with zeros (negative padding crops), ``pad = (x0, x1, y0, y1)``;
3. convolve with the FIR filter ``f`` (a true convolution, i.e. ``f`` flipped for torch's correlation),
   scaled by ``gain``;
4. keep every ``down``-th sample.

The low-pass filter is built from the binomial taps ``[1, 3, 3, 1]`` by an outer product and
normalised to sum 1 (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
CVPR 2020, arXiv 1912.04958; the filter choice follows Zhang, "Making Convolutional Networks
Shift-Invariant Again", ICML 2019). Up-sampling by 2 multiplies the filter by ``up**2 = 4`` so that
a constant image keeps its value.

:func:`conv2d_resample` fuses a convolution with 2× up- or down-sampling the way the StyleGAN2
papers describe it: a transposed convolution with stride 2 followed by the FIR filter (up), or the
FIR filter followed by a strided convolution (down); 1×1 kernels commute with the filter and are
applied at the lower resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Padding = tuple[int, int, int, int]


def setup_filter(taps: Sequence[float] | torch.Tensor = (1, 3, 3, 1)) -> torch.Tensor:
    """Low-pass filter from 1-D taps: ``outer(t, t) / sum`` (shape ``[k, k]``).

    Long filters (8 taps or more) stay 1-D and are applied separably, as in the reference code, so
    that the ``resample_filter`` buffers keep their shapes.
    """
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    if f.ndim not in (1, 2):
        raise ValueError(f"resample filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    return f / f.sum()


def filter_size(f: torch.Tensor) -> int:
    return int(f.shape[-1])


def _as_padding(padding: int | Sequence[int]) -> Padding:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, (px, py) or (x0, x1, y0, y1); got {padding}")
    return padding  # type: ignore[return-value]


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter and downsample ``x`` ``[N, C, H, W]``.

    ``f`` is ``[k, k]`` or 1-D ``[k]`` (separable); ``gain`` multiplies the whole 2-D filter.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _as_padding(padding)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]

    f = f.to(x.dtype) * (gain ** (f.ndim / 2))
    f = f.flip(list(range(f.ndim)))  # convolution, not correlation
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, f.numel()), groups=c)
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, f.numel(), 1), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by ``up`` with filter ``f``; output size is exactly ``up`` times the input size."""
    k = filter_size(f)
    p0, p1 = (k + up - 1) // 2, (k - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up**2)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """Filter with ``f`` and keep every ``down``-th sample; output size is the input size / ``down``."""
    k = filter_size(f)
    p0, p1 = (k - down + 1) // 2, (k - down) // 2
    return upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))


def _transpose_weight(w: torch.Tensor, groups: int) -> torch.Tensor:
    """``[O, I/g, kh, kw]`` conv weight → ``[I, O/g, kh, kw]`` layout of ``conv_transpose2d``."""
    out_ch, in_per_group, kh, kw = w.shape
    w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_ch // groups, kh, kw)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution (``w`` ``[O, I/groups, k, k]``) with optional up- or down-sampling through ``f``.

    ``padding`` is the convolution's own padding, relative to the up-sampled image. Without
    resampling this is ``F.conv2d`` (correlation). With ``up`` the kernel is applied as a transposed
    convolution (so as a true convolution of the zero-stuffed input), then filtered by ``f`` with
    gain ``up**2``. With ``down`` the input is filtered by ``f`` first, then convolved with stride.
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample does not combine up- and down-sampling")
    kh, kw = w.shape[2], w.shape[3]
    if kh != kw:
        raise ValueError("only square kernels are supported")
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    if f is None:
        raise ValueError("resampling needs a filter f")
    k = filter_size(f)

    if up > 1:
        p0 = padding + (k + up - 1) // 2
        p1 = padding + (k - up) // 2
        if kw == 1:  # 1x1 commutes with the filter: convolve at the low resolution, then upsample
            x = F.conv2d(x, w, groups=groups)
            return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up**2)
        p0 -= kw - 1
        p1 -= kw - up
        pt = max(min(-p0, -p1), 0)
        x = F.conv_transpose2d(x, _transpose_weight(w, groups), stride=up, padding=pt, groups=groups)
        return upfirdn2d(x, f, padding=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up**2)

    p0 = padding + (k - down + 1) // 2
    p1 = padding + (k - down) // 2
    if kw == 1:  # filter and decimate first, then the 1x1 convolution at the low resolution
        x = upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))
        return F.conv2d(x, w, groups=groups)
    x = upfirdn2d(x, f, padding=(p0, p1, p0, p1))
    return F.conv2d(x, w, stride=down, groups=groups)
