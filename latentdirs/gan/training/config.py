"""The settings of a StyleGAN2 training run (saved as ``config.json`` in the run directory).

Defaults follow StyleGAN2-ADA's ``auto`` configuration where it makes sense for small CPU runs:
Adam with lr 0.0025 and betas (0, 0.99), R1 every 16 D steps, γ = 0.0002·R²/batch when not given,
style mixing 0.9, EMA half-life ``batch·10/32`` kimg with ramp-up 0.05, two mapping layers,
minibatch-std group 4. The network size is the caller's choice (``channel_base``/``channel_max``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ...errors import UserError

#: settings that may change between a run and its resume (they do not alter the training trajectory)
RUN_CONTROLS = ("kimg", "snapshot_kimg", "sample_kimg", "quality_kimg", "quality_samples", "classifier", "device")


@dataclass
class GANTrainConfig:
    dataset: str = "dsprites"
    dataset_path: str | None = None
    resolution: int = 64
    # generator
    z_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 2
    channel_base: int = 2048
    channel_max: int = 64
    g_architecture: str = "skip"
    # discriminator (0 = same as the generator)
    d_architecture: str = "resnet"
    d_channel_base: int = 0
    d_channel_max: int = 0
    mbstd_group: int = 4
    # optimization
    batch: int = 32
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float | None = None
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    seed: int = 0
    #: warm start: a train-gan checkpoint (or run directory) whose G, D and G_ema initialize this run
    init_from: str | None = None
    # run controls
    kimg: float = 100.0
    snapshot_kimg: float = 10.0
    sample_kimg: float = 5.0
    quality_kimg: float = 5.0
    quality_samples: int = 256
    classifier: str | None = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        for name, flag in (("z_dim", "z-dim"), ("w_dim", "w-dim"), ("mapping_layers", "map-layers"),
                           ("channel_max", "channel-max"), ("mbstd_group", "mbstd-group")):
            if getattr(self, name) < 1:
                raise UserError(f"--{flag} must be ≥ 1, got {getattr(self, name)}")
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise UserError(f"--resolution must be a power of two ≥ 8, got {self.resolution}")
        if self.batch < 1 or self.batch % min(self.mbstd_group, self.batch):
            raise UserError(f"--batch must be a positive multiple of the minibatch-std group "
                            f"({self.mbstd_group}), got {self.batch}")
        for name, flag, strict in (("kimg", "kimg", True), ("snapshot_kimg", "snapshot-kimg", True),
                                   ("sample_kimg", "sample-kimg", True), ("quality_kimg", "quality-kimg", True),
                                   ("g_lr", "g-lr", True), ("d_lr", "d-lr", True), ("r1_gamma", "gamma", False),
                                   ("pl_weight", "pl-weight", False), ("ema_kimg", "ema", False)):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and (value > 0 or (value == 0 and not strict))):
                raise UserError(f"--{flag} must be a finite number {'>' if strict else '≥'} 0, got {value}")
        if self.r1_interval < 1 or self.pl_interval < 1:
            raise UserError("regularization intervals must be ≥ 1")
        if not 0.0 <= self.style_mixing_prob <= 1.0:
            raise UserError(f"--style-mixing must be in [0, 1], got {self.style_mixing_prob}")
        for name, value in (("channel_base", self.channel_base), ("d_channel_base", self.d_channel_base or None)):
            if value is not None and value < self.resolution:
                raise UserError(f"--{name.replace('_', '-')} must be ≥ the resolution {self.resolution} (channels = "
                                f"min(base // res, max) at each resolution res), got {value}")
        if self.d_channel_max < 0:
            raise UserError(f"--d-channel-max must be ≥ 1 (0: --channel-max), got {self.d_channel_max}")

    # -- derived values ------------------------------------------------------------------------
    @property
    def gamma(self) -> float:
        """R1 weight γ: as given, else StyleGAN2-ADA's heuristic ``0.0002 · R² / batch``."""
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution**2 / self.batch

    @property
    def ema_half_life_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def generator_kwargs(self, img_channels: int) -> dict[str, Any]:
        """Constructor arguments of the generator (stylegan2-ada-pytorch's ``Generator``)."""
        return {
            "z_dim": self.z_dim, "c_dim": 0, "w_dim": self.w_dim, "img_resolution": self.resolution,
            "img_channels": img_channels, "mapping_kwargs": {"num_layers": self.mapping_layers},
            "synthesis_kwargs": {"channel_base": self.channel_base, "channel_max": self.channel_max,
                                 "architecture": self.g_architecture, "num_fp16_res": 0, "conv_clamp": None},
        }

    def discriminator_kwargs(self, img_channels: int) -> dict[str, Any]:
        """Constructor arguments of the discriminator (stylegan2-ada-pytorch's ``Discriminator``)."""
        return {
            "c_dim": 0, "img_resolution": self.resolution, "img_channels": img_channels,
            "architecture": self.d_architecture, "channel_base": self.d_channel_base or self.channel_base,
            "channel_max": self.d_channel_max or self.channel_max, "conv_clamp": None,
            "epilogue_kwargs": {"mbstd_group_size": self.mbstd_group},
        }

    # -- (de)serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANTrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown GAN training settings {unknown}")
        return cls(**data)

    def trajectory_dict(self) -> dict[str, Any]:
        """The settings that define the training trajectory (compared on resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_CONTROLS}
