"""The StyleGAN2 generator, weight-compatible with stylegan2-ada-pytorch, and its latent spaces.

Spaces a user edits in (shapes samples-first):

- Z ``[N, z_dim]``: the Gaussian input;
- W ``[N, w_dim]``: the mapping network's output, :meth:`Generator.z_to_w`;
- W+ ``[N, num_ws, w_dim]``: one w per styled layer (:meth:`Generator.w_to_ws` broadcasts a W code);
- S: per-layer styles ``{layer: [N, channels]}`` = ``affine(w)``, :meth:`Generator.ws_to_styles`.

Images are ``[N, img_channels, R, R]`` floats, about [-1, 1] for a trained generator (not clipped).
Noise modes: ``const`` (the stored per-layer noise images; our default, deterministic), ``none``,
``random`` (fresh Gaussian noise from ``noise_generator``; the reference code's default).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import MAPPING_DEFAULTS, SYNTHESIS_DEFAULTS, check_generator_kwargs
from .mapping import MappingNetwork
from .synthesis import SynthesisNetwork


class Generator(nn.Module):
    """StyleGAN2 generator: ``mapping`` (Z → W+) then ``synthesis`` (W+ → image).

    Constructor arguments are those of stylegan2-ada-pytorch's ``training.networks.Generator``;
    ``init_kwargs`` keeps them (JSON-friendly) so the model can be saved and rebuilt. They are type- and
    range-checked first (:func:`.config.check_generator_kwargs`: a one-line UserError), so that no setting
    allocates without bound; a generator built from a file is also checked against its weights' shapes.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        synthesis_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        check_generator_kwargs(dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                    img_channels=img_channels, mapping_kwargs=mapping_kwargs,
                                    synthesis_kwargs=synthesis_kwargs), "generator configuration")
        self.init_kwargs: dict[str, Any] = copy.deepcopy(dict(
            z_dim=int(z_dim), c_dim=int(c_dim), w_dim=int(w_dim), img_resolution=int(img_resolution),
            img_channels=int(img_channels), mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs))
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.synthesis = SynthesisNetwork(w_dim=self.w_dim, img_resolution=self.img_resolution,
                                          img_channels=self.img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, num_ws=self.num_ws,
                                      **mapping_kwargs)
        #: where the weights came from (set by the loaders): format, path, sha256, …
        self.source: dict[str, Any] = {}

    def full_config(self) -> dict[str, Any]:
        """``init_kwargs`` with every option spelled out (defaults filled in): equal for equal networks."""
        config = copy.deepcopy(self.init_kwargs)
        config["mapping_kwargs"] = {**MAPPING_DEFAULTS, **config["mapping_kwargs"]}
        config["synthesis_kwargs"] = {**SYNTHESIS_DEFAULTS, **config["synthesis_kwargs"]}
        taps = config["synthesis_kwargs"]["resample_filter"]
        config["synthesis_kwargs"]["resample_filter"] = torch.as_tensor(taps, dtype=torch.float32).tolist()
        return config

    # -- the official call ---------------------------------------------------------------------
    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        force_fp32: bool | None = None,
        fused_modconv: bool | None = None,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv,
                              noise_generator=noise_generator)

    # -- latent spaces -------------------------------------------------------------------------
    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    @property
    def device(self) -> torch.device:
        return self.synthesis.b4.const.device

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` Gaussian z ``[n, z_dim]`` on the model's device."""
        return torch.randn([n, self.z_dim], generator=generator, device=self.device)

    def z_from_seeds(self, seeds: list[int]) -> torch.Tensor:
        """z for each seed as the reference ``generate.py`` draws it: ``RandomState(seed).randn(1, z_dim)``."""
        z = np.concatenate([np.random.RandomState(int(seed)).randn(1, self.z_dim) for seed in seeds])
        return torch.from_numpy(z.astype(np.float32)).to(self.device)

    def z_to_w(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """W codes ``[N, w_dim]`` (no truncation)."""
        return self.mapping.z_to_w(z, c)

    def w_to_ws(self, w: torch.Tensor) -> torch.Tensor:
        """Broadcast W ``[N, w_dim]`` to W+ ``[N, num_ws, w_dim]``."""
        return w.unsqueeze(1).repeat([1, self.num_ws, 1])

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """``w_avg + ψ (w - w_avg)`` for W ``[N, w_dim]`` or the first ``cutoff`` entries of W+."""
        return self.mapping.truncate(ws, psi, cutoff)

    def ws_to_styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """S space: ``{layer: affine(w) [N, channels]}`` for every styled layer."""
        return self.synthesis.ws_to_styles(ws)

    def synthesize(
        self,
        ws: torch.Tensor | None = None,
        styles: dict[str, torch.Tensor] | None = None,
        noise_mode: str = "const",
        force_fp32: bool | None = None,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Images from W+ codes and/or S-space styles (styles override the layers they name)."""
        return self.synthesis(ws, styles=styles, noise_mode=noise_mode, force_fp32=force_fp32,
                              noise_generator=noise_generator)
