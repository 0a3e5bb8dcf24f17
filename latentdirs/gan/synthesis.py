"""StyleGAN2 synthesis network: W+ ``[N, num_ws, w_dim]`` (or per-layer styles, S space) → image.

One block per resolution 4, 8, …, R with ``min(channel_base // res, channel_max)`` channels. The
4×4 block starts from a learned constant and has one modulated conv; every later block has a 2×
up-sampling modulated conv (``conv0``) and a plain one (``conv1``). Architectures (Karras et al.,
CVPR 2020, arXiv 1912.04958, Fig. 7):

- ``orig``: only the last block has a ToRGB;
- ``skip``: every block has a ToRGB; the image is up-sampled (FIR [1,3,3,1]) and summed across blocks;
- ``resnet``: ``x = (skip(x) + conv1(conv0(x))) · √½`` with a 1×1 up-sampling ``skip``; ToRGB only last.

w slicing: block ``b`` reads ``num_conv + num_torgb`` consecutive ws starting at the number of convs
before it, so a block's ToRGB shares its w with the next block's ``conv0``;
``num_ws = Σ num_conv + 1``. Blocks at the ``num_fp16_res`` highest resolutions may run in float16
on CUDA (as the reference code does); on CPU, or with ``force_fp32``, everything is float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..validation import GAN_ARCHITECTURES as ARCHITECTURES
from .layers import Conv2dLayer, SynthesisLayer, ToRGBLayer
from .resample import setup_filter, upsample2d

SQRT_HALF = math.sqrt(0.5)


class SynthesisBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        **layer_kwargs,
    ) -> None:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def layer_names(self) -> list[str]:
        """Names of the styled layers in the order they consume ws."""
        names = ([] if self.in_channels == 0 else ["conv0"]) + ["conv1"]
        return names + (["torgb"] if self.num_torgb else [])

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: Sequence[torch.Tensor | None],
        styles: Sequence[torch.Tensor | None],
        noise_mode: str = "const",
        force_fp32: bool = True,
        fused_modconv: bool | None = None,
        noise_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``ws[i]`` / ``styles[i]`` feed the i-th styled layer (a style, when given, wins)."""
        batch = next(t for t in (*styles, *ws) if t is not None).shape[0]
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        memory_format = torch.channels_last if self.channels_last and not force_fp32 else torch.contiguous_format
        if fused_modconv is None:
            fused_modconv = (not self.training) and (dtype == torch.float32 or batch == 1)
        layers = iter(zip(ws, styles, strict=True))
        common = dict(noise_mode=noise_mode, fused_modconv=fused_modconv, noise_generator=noise_generator)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([batch, 1, 1, 1])
            x = x.contiguous(memory_format=memory_format)
            w, s = next(layers)
            x = self.conv1(x, w, style=s, **common)
        elif self.architecture == "resnet":
            x = x.to(dtype=dtype).contiguous(memory_format=memory_format)
            y = self.skip(x, gain=SQRT_HALF)
            w, s = next(layers)
            x = self.conv0(x, w, style=s, **common)
            w, s = next(layers)
            x = y + self.conv1(x, w, style=s, gain=SQRT_HALF, **common)
        else:
            x = x.to(dtype=dtype).contiguous(memory_format=memory_format)
            w, s = next(layers)
            x = self.conv0(x, w, style=s, **common)
            w, s = next(layers)
            x = self.conv1(x, w, style=s, **common)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            w, s = next(layers)
            y = self.torgb(x, w, style=s, fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        **block_kwargs,
    ) -> None:
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        self.channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = self.channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(in_channels, self.channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=is_last, use_fp16=res >= fp16_resolution,
                                   **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[tuple[int, SynthesisBlock]]:
        return [(res, getattr(self, f"b{res}")) for res in self.block_resolutions]

    def layer_names(self) -> list[str]:
        """Styled layers (S space) in block order, e.g. ``b4.conv1, b4.torgb, b8.conv0, …``."""
        return [f"b{res}.{name}" for res, block in self.blocks() for name in block.layer_names()]

    def _block_ws(self, ws: torch.Tensor) -> list[list[torch.Tensor]]:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        out, w_idx = [], 0
        for _, block in self.blocks():
            count = block.num_conv + block.num_torgb
            out.append(list(ws.narrow(1, w_idx, count).unbind(dim=1)))
            w_idx += block.num_conv
        return out

    def ws_to_styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-layer styles ``affine(w)`` (S space) ``{name: [N, in_channels]}``, in :meth:`layer_names` order."""
        styles = {}
        for (res, block), block_ws in zip(self.blocks(), self._block_ws(ws), strict=True):
            for name, w in zip(block.layer_names(), block_ws, strict=True):
                styles[f"b{res}.{name}"] = getattr(block, name).affine(w)
        return styles

    def forward(
        self,
        ws: torch.Tensor | None = None,
        noise_mode: str = "const",
        force_fp32: bool | None = None,
        fused_modconv: bool | None = None,
        styles: dict[str, torch.Tensor] | None = None,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Image ``[N, img_channels, R, R]`` (about [-1, 1] for a trained model) from ``ws`` or ``styles``.

        ``styles`` (from :meth:`ws_to_styles`, possibly edited) override the affine outputs of the
        layers they name; layers not named use ``ws``. ``force_fp32=None`` means float16 blocks
        (``num_fp16_res``) run in float16 on CUDA only.
        """
        styles = dict(styles or {})
        unknown = set(styles) - set(self.layer_names())
        if unknown:
            raise ValueError(f"unknown style layers {sorted(unknown)}; expected names from layer_names()")
        if ws is None and len(styles) != len(self.layer_names()):
            raise ValueError("give ws, or styles for every layer in layer_names()")
        blocks = self.blocks()
        block_ws = self._block_ws(ws) if ws is not None else [[None] * len(b.layer_names()) for _, b in blocks]
        if force_fp32 is None:
            device = (ws if ws is not None else next(iter(styles.values()))).device
            force_fp32 = device.type != "cuda"
        x = img = None
        for (res, block), cur_ws in zip(blocks, block_ws, strict=True):
            cur_styles = [styles.get(f"b{res}.{name}") for name in block.layer_names()]
            x, img = block(x, img, cur_ws, cur_styles, noise_mode=noise_mode, force_fp32=force_fp32,
                           fused_modconv=fused_modconv, noise_generator=noise_generator)
        return img
