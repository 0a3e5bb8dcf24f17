"""The settings of a StyleGAN2 training run (saved as ``config.json`` in the run directory).

Defaults follow StyleGAN2-ADA's ``auto`` configuration where it makes sense for small CPU runs:
Adam with lr 0.0025 and betas (0, 0.99), R1 every 16 D steps, γ = 0.0002·R²/batch when not given,
style mixing 0.9, EMA half-life ``batch·10/32`` kimg with ramp-up 0.05, two mapping layers,
minibatch-std group 4. The network size is the caller's choice (``channel_base``/``channel_max``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ... import validation as v
from ...errors import UserError
from ...io import read_json
from ...validation import check_device_name

#: settings that may change between a run and its resume (they do not alter the training trajectory)
RUN_CONTROLS = ("kimg", "snapshot_kimg", "sample_kimg", "quality_kimg", "quality_samples", "classifier", "device")


BETA = v.Bounds(0.0, 1.0, hi_open=True)
#: the range of every numeric setting (a run folder's config.json is checked against them too)
_BOUNDS: dict[str, v.Bounds] = {
    "resolution": v.RESOLUTION, "z_dim": v.LATENT_WIDTH, "w_dim": v.LATENT_WIDTH, "mapping_layers": v.MAPPING_LAYERS,
    "channel_base": v.CHANNEL_BASE, "channel_max": v.CHANNEL_MAX,
    "d_channel_base": dataclasses.replace(v.CHANNEL_BASE, also=(0,)),
    "d_channel_max": dataclasses.replace(v.CHANNEL_MAX, also=(0,)), "mbstd_group": v.MBSTD_GROUP,
    "batch": v.BATCH, "g_lr": v.LEARNING_RATE, "d_lr": v.LEARNING_RATE, "r1_gamma": v.WEIGHT,
    "r1_interval": v.REG_INTERVAL, "pl_weight": v.WEIGHT, "pl_interval": v.REG_INTERVAL,
    "pl_batch_shrink": v.MBSTD_GROUP, "pl_decay": v.PROBABILITY, "style_mixing_prob": v.PROBABILITY,
    "ema_kimg": v.KIMG_OR_ZERO, "ema_rampup": v.KIMG_OR_ZERO, "seed": v.SEED, "kimg": v.KIMG,
    "snapshot_kimg": v.KIMG, "sample_kimg": v.KIMG, "quality_kimg": v.KIMG, "quality_samples": v.SAMPLES,
}
_OPTIONAL = ("r1_gamma", "ema_kimg", "ema_rampup")  # None: the StyleGAN2-ADA default
_NOT_OPTIONS = ("pl_interval", "pl_batch_shrink", "pl_decay", "ema_rampup")  # settable in config.json only
_FLAGS = {"mapping_layers": "map-layers", "r1_gamma": "gamma", "style_mixing_prob": "style-mixing", "ema_kimg": "ema"}


def _flag(name: str) -> str:
    """How a setting is named in a message: its CLI option, or its config.json key where it has no option."""
    return name if name in _NOT_OPTIONS else f"--{_FLAGS.get(name, name.replace('_', '-'))}"


@dataclass
class RunConfig:
    """What the settings of ``train-gan`` and ``pretrain-gan`` share: the dataset, the generator network, the batch,
    Adam's betas, G_ema, the seed and the run controls; checks, (de)serialization and which settings a ``--resume``
    may change (``CONTROLS``; the rest define the training trajectory)."""

    WHAT: ClassVar[str]  # how messages name these settings
    CONTROLS: ClassVar[tuple[str, ...]]
    BOUNDS: ClassVar[dict[str, v.Bounds]]

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
    # optimization
    batch: int = 32
    betas: tuple[float, float] = (0.0, 0.99)
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    seed: int = 0
    # run controls
    kimg: float = 100.0
    snapshot_kimg: float = 10.0
    sample_kimg: float = 5.0
    quality_kimg: float = 5.0
    quality_samples: int = 256
    classifier: str | None = "auto"
    device: str = "auto"

    def _check_common(self, strings: tuple[str, ...], nullable_strings: tuple[str, ...]) -> None:
        """Every number within its bounds (integers made ``int``), the string fields, the device and Adam's betas."""
        for name, bounds in self.BOUNDS.items():
            value = getattr(self, name)
            if value is not None or name not in _OPTIONAL:
                bounds.check(value, _flag(name))
                if bounds.integer:
                    setattr(self, name, int(value))
        for name in strings:
            if not isinstance(getattr(self, name), str):
                raise UserError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name in nullable_strings:
            if not isinstance(getattr(self, name), str | None):
                raise UserError(f"{name} must be a string or null, got {getattr(self, name)!r}")
        check_device_name(self.device)
        if not (isinstance(self.betas, list | tuple) and len(self.betas) == 2
                and all(BETA.problem(b) is None for b in self.betas)):
            raise UserError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    @property
    def ema_half_life_kimg(self) -> float:
        """G_ema's half-life: as given, else StyleGAN2-ADA's ``batch · 10 / 32`` kimg."""
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            raise UserError(f"{cls.WHAT} settings must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown {cls.WHAT} settings {unknown}")
        return cls(**data)

    def trajectory_dict(self) -> dict[str, Any]:
        """The settings that define the training trajectory (compared on resume)."""
        return {k: value for k, value in self.to_dict().items() if k not in self.CONTROLS}

    @classmethod
    def may_change(cls) -> str:
        """``the run length, intervals, classifier and device`` (and the controls a command adds)."""
        names = ["the run length", "intervals", "classifier", "device"]
        names += [_flag(name) for name in cls.CONTROLS if name not in RUN_CONTROLS and name != "lr_schedule"]
        return f"{', '.join(names[:-1])} and {names[-1]}"

    def check_resumes(self, saved: RunConfig, out: Path) -> None:
        """A UserError unless these settings continue ``saved``'s trajectory."""
        theirs = saved.trajectory_dict()
        diff = sorted(k for k, value in self.trajectory_dict().items() if theirs.get(k) != value)
        if diff:
            raise UserError(f"--resume: settings differ from the run in {out} ({', '.join(diff)}); only "
                            f"{self.may_change()} may change")


@dataclass
class GANTrainConfig(RunConfig):
    WHAT: ClassVar[str] = "GAN training"
    CONTROLS: ClassVar[tuple[str, ...]] = RUN_CONTROLS
    BOUNDS: ClassVar[dict[str, v.Bounds]] = _BOUNDS

    # discriminator (0 = same as the generator)
    d_architecture: str = "resnet"
    d_channel_base: int = 0
    d_channel_max: int = 0
    mbstd_group: int = 4
    # optimization (besides the batch, betas (0, 0.99) and G_ema)
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    r1_gamma: float | None = None
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    #: warm start: a train-gan checkpoint (or run directory) whose G, D and G_ema initialize this run
    init_from: str | None = None

    def __post_init__(self) -> None:
        self._check_common(("dataset", "g_architecture", "d_architecture"), ("dataset_path", "init_from", "classifier"))
        for name, value in (("--arch", self.g_architecture), ("--d-arch", self.d_architecture)):
            if value not in v.GAN_ARCHITECTURES:
                raise UserError(f"{name} must be one of {', '.join(v.GAN_ARCHITECTURES)}, got {value!r}")
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise UserError(f"--resolution must be a power of two ≥ 8, got {self.resolution}")
        if self.batch < 1 or self.batch % min(self.mbstd_group, self.batch):
            raise UserError(f"--batch must be a positive multiple of the minibatch-std group "
                            f"({self.mbstd_group}), got {self.batch}")
        for name, value in (("channel_base", self.channel_base), ("d_channel_base", self.d_channel_base or None)):
            if value is not None and value < self.resolution:
                raise UserError(f"--{name.replace('_', '-')} must be ≥ the resolution {self.resolution} (channels = "
                                f"min(base // res, max) at each resolution res), got {value}")

    # -- derived values ------------------------------------------------------------------------
    @property
    def gamma(self) -> float:
        """R1 weight γ: as given, else StyleGAN2-ADA's heuristic ``0.0002 · R² / batch``."""
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution**2 / self.batch

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


_Config = TypeVar("_Config", bound=RunConfig)


def resolve_run_config(config_class: type[_Config], command: str, out: str | Path, given: dict[str, Any],
                       resume: bool) -> _Config:
    """The config of a ``train-gan`` / ``pretrain-gan`` run: the ``given`` options for a new run; on ``--resume``
    the run's saved ``config.json`` with ``given`` laid over it, where only the config's ``CONTROLS`` may differ."""
    if not resume:
        return config_class(**given)
    saved_path = Path(out) / "config.json"
    if not (Path(out) / "checkpoint.pt").is_file() or not saved_path.is_file():
        raise UserError(f"--resume: {out} holds no {command} run (expected its config.json and checkpoint.pt)")
    saved = read_json(saved_path, "run config")
    try:
        config_class.from_dict(saved)
    except UserError:
        raise UserError(f"--resume: {out} holds no {command} run ({saved_path} is another command's)") from None
    changed = sorted(k for k, value in given.items() if k not in config_class.CONTROLS and saved.get(k) != value)
    if changed:
        verb = "differs" if len(changed) == 1 else "differ"
        raise UserError(f"--resume: {', '.join(changed)} {verb} from {saved_path}; only {config_class.may_change()} "
                        f"may change")
    return config_class.from_dict({**saved, **given})
