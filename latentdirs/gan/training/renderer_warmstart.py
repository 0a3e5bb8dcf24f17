r"""Renderer warm start (``latentdirs pretrain-gan``): a StyleGAN2 generator trained against the dataset's renderer.

No discriminator. Each step draws ``z ~ N(0, I)``, reads factor indices from it with the fixed map of
:mod:`.factor_latents` (each factor exactly uniform over its values), renders the target ``x(z)`` with the dataset's
``observations_from_factors`` (area-downsampled to the run's resolution, in [-1, 1]) and minimizes

    L = mean over the batch, channels and pixels of (G(z) − x(z))²

for the whole generator (mapping and synthesis; random noise inputs, no style mixing: a mixed latent has no
target). A generator with ``L = 0`` draws exactly the dataset's images with each factor's values in the dataset's
proportions, coverage that adversarial training reaches slowly on a CPU budget; ``train-gan --init-from`` then
starts its adversarial phase from this generator (G and G_ema; D fresh from that run's seed).

Choices, and why (measured with the README's ellipses architecture, batch 16, 2.5 min runs on this machine):

* **Targets on the factor grid**, not rendered at continuous geometry: only grid images are dataset images (the
  adversarial phase's reals, and what the factor classifier and the re-render score read); an off-grid sample
  can only score below a grid one.
* **L2, not L1**: both are minimized by ``G = x``, but while the generator cannot yet tell where the object is,
  L1's per-pixel optimum is the median, i.e. the background (the object covers 4.6 % of the pixels), so L1 gives
  no path from "an object is likely here" to "the object is here"; L2's optimum is the mean, a faint blob that
  sharpens as G learns. At 9–13 kimg, L1 had learnt the backgrounds and drawn no object (mean error on object
  pixels 0.755, images in [-1, 1]), L2 faint blobs of roughly the right hue and place (0.689).
* **The mapping network at the synthesis's rate**: StyleGAN2 trains its mapping with a learning-rate multiplier
  0.01; here its Adam rate is ``lr / 0.01``. Every factor reaches the image through the mapping, and at its
  usual rate even the background level (one coordinate, four values) was not learnt in 300 steps (L1 error
  0.26 against 0.14 at the synthesis's rate); the mapping's weights and their format are unchanged.
* **Adam lr 0.02, β = (0.9, 0.99)**: a supervised objective has no adversary whose moves momentum would chase
  (StyleGAN2 uses β₁ = 0 for that); lr 0.02 learnt the background in 200 steps (L1 0.08), 0.005 not in 300.
  G_ema follows StyleGAN2-ADA's half-life schedule, as in ``train-gan``.

Runs checkpoint (G, G_ema, Adam, the random stream, counters) at every snapshot and resume bit for bit; the
outputs follow ``train-gan``'s (config.json, checkpoint.pt, metrics.json, summary.json, samples/, snapshots/) and
``samples/targets.png`` shows what the grid latents' samples should become.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import validation as v
from ...data import get_dataset
from ...data.base import GroundTruthData
from ...errors import UserError
from ...interrupt import Interrupted, StopRequest
from ...io import save_image_grid, torch_load, torch_save, write_json
from ...progress import progress_bar
from ...runlock import run_lock
from ...seeding import resolve_device, torch_generator
from ...validation import check_device_name, check_fits, model_bytes
from ..generator import Generator
from .config import RUN_CONTROLS, GANTrainConfig
from .ema import ema_beta, update_ema
from .factor_latents import check_latent_width, factors_from_latents
from .loop import (
    CHECKPOINT,
    GRID_SEED_OFFSET,
    PRETRAIN_CHECKPOINT_FORMAT,
    _crossed,
    generator_range,
    kimg_label,
    quality_summary,
    run_summary,
    sample_images,
)
from .loss import map_latents
from .quality import QualityProbe, load_quality_probe
from .snapshot import export_snapshot

_BOUNDS: dict[str, v.Bounds] = {
    "batch": v.BATCH, "lr": v.LEARNING_RATE, "ema_kimg": v.KIMG_OR_ZERO, "ema_rampup": v.KIMG_OR_ZERO,
    "seed": v.SEED, "kimg": v.KIMG, "snapshot_kimg": v.KIMG, "sample_kimg": v.KIMG, "quality_kimg": v.KIMG,
    "quality_samples": v.SAMPLES,
}
#: StyleGAN2's learning-rate multiplier of the mapping network (its default, kept by train-gan's generators)
MAPPING_LR_MULTIPLIER = 0.01
#: what ``--resume`` may change: ``train-gan``'s run controls and the learning rate (a lower rate to polish a run
#: whose loss has flattened; the new rate applies from the resume point and ``lr_schedule`` records where)
PRETRAIN_CONTROLS = (*RUN_CONTROLS, "lr")
_OPTIONAL = ("ema_kimg", "ema_rampup")  # None: StyleGAN2-ADA's half-life / no ramp-up
_GENERATOR_FIELDS = ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                     "g_architecture")


@dataclass
class PretrainConfig:
    """Settings of a renderer warm start (``config.json`` of the run). The generator fields and their defaults are
    ``train-gan``'s, so the same flags give the network ``train-gan --init-from`` expects."""

    dataset: str = "dsprites"
    dataset_path: str | None = None
    resolution: int = 64
    z_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 2
    channel_base: int = 2048
    channel_max: int = 64
    g_architecture: str = "skip"
    batch: int = 32
    lr: float = 0.02
    betas: tuple[float, float] = (0.9, 0.99)
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    seed: int = 0
    #: ``[[kimg, lr], …]`` from ``[0, first lr]`` on, once a ``--resume`` changed ``lr`` (empty until then)
    lr_schedule: list[list[float]] = field(default_factory=list)
    # run controls
    kimg: float = 50.0
    snapshot_kimg: float = 5.0
    sample_kimg: float = 5.0
    quality_kimg: float = 5.0
    quality_samples: int = 256
    classifier: str | None = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        for name, bounds in _BOUNDS.items():
            value = getattr(self, name)
            if value is not None or name not in _OPTIONAL:
                bounds.check(value, f"--{'ema' if name == 'ema_kimg' else name.replace('_', '-')}")
                if bounds.integer:
                    setattr(self, name, int(value))
        for name in ("dataset_path", "classifier"):
            if not isinstance(getattr(self, name), str | None):
                raise UserError(f"{name} must be a string or null, got {getattr(self, name)!r}")
        check_device_name(self.device)
        if not (isinstance(self.betas, list | tuple) and len(self.betas) == 2
                and all(v.Bounds(0.0, 1.0, hi_open=True).problem(b) is None for b in self.betas)):
            raise UserError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if not (isinstance(self.lr_schedule, list) and all(
                isinstance(c, list | tuple) and len(c) == 2 and v.KIMG_OR_ZERO.problem(c[0]) is None
                and v.LEARNING_RATE.problem(c[1]) is None for c in self.lr_schedule)):
            raise UserError(f"lr_schedule must be a list of [kimg, lr] pairs, got {self.lr_schedule!r}")
        self.lr_schedule = [[float(k), float(r)] for k, r in self.lr_schedule]
        self.generator_config()  # checks the network's fields as train-gan does

    def generator_config(self) -> GANTrainConfig:
        """A ``train-gan`` config with this generator (its ``generator_kwargs`` build the network)."""
        return GANTrainConfig(dataset=self.dataset, batch=self.batch, mbstd_group=1, seed=self.seed,
                              device=self.device, **{name: getattr(self, name) for name in _GENERATOR_FIELDS})

    @property
    def ema_half_life_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        if not isinstance(data, dict):
            raise UserError(f"pretrain-gan settings must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown pretrain-gan settings {unknown}")
        return cls(**data)

    def trajectory_dict(self) -> dict[str, Any]:
        """The settings that define the training trajectory (compared on resume)."""
        return {k: value for k, value in self.to_dict().items() if k not in PRETRAIN_CONTROLS + ("lr_schedule",)}


def render_targets(dataset: GroundTruthData, z: torch.Tensor, resolution: int) -> torch.Tensor:
    """The renderer's image for each latent: ``[N, C, R, R]`` in [-1, 1] on ``z``'s device."""
    factors = factors_from_latents(z.detach().cpu().numpy(), dataset.factor_sizes)
    return generator_range(dataset.observations_from_factors(factors), resolution, z.device)


@torch.no_grad()
def reconstruction_error(G: Generator, dataset: GroundTruthData, z: torch.Tensor, batch_size: int = 64) -> float:
    """Mean ``|G(z) − x(z)|`` (images in [-1, 1], constant noise) over latents ``z``."""
    total = 0.0
    for start in range(0, len(z), batch_size):
        chunk = z[start:start + batch_size]
        fake = G(chunk, None, noise_mode="const")
        total += float((fake - render_targets(dataset, chunk, G.img_resolution)).abs().mean()) * len(chunk)
    return total / max(len(z), 1)


@dataclass
class PretrainState:
    """Everything a checkpoint holds besides the config."""

    G: Generator
    G_ema: Generator
    opt: torch.optim.Optimizer
    gen: torch.Generator
    cur_nimg: int = 0
    batch_idx: int = 0
    wall_time_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def set_learning_rate(opt: torch.optim.Optimizer, lr: float) -> None:
    """Adam's rates: ``lr / MAPPING_LR_MULTIPLIER`` for the mapping network (group 0), ``lr`` for the synthesis."""
    opt.param_groups[0]["lr"] = lr / MAPPING_LR_MULTIPLIER
    opt.param_groups[1]["lr"] = lr


def build_pretrain_state(cfg: PretrainConfig, img_channels: int, device: torch.device) -> PretrainState:
    """A fresh generator initialized from ``cfg.seed`` (as ``train-gan`` initializes its G), Adam and the stream of
    latents and noise."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        G = Generator(**cfg.generator_config().generator_kwargs(img_channels))
    G = G.to(device).train().requires_grad_(False)
    opt = torch.optim.Adam([{"params": list(G.mapping.parameters())}, {"params": list(G.synthesis.parameters())}],
                           lr=cfg.lr, betas=cfg.betas, eps=1e-8)
    set_learning_rate(opt, cfg.lr)
    return PretrainState(G=G, G_ema=copy.deepcopy(G).eval(), opt=opt, gen=torch_generator(cfg.seed, device))


def pretrain_step(cfg: PretrainConfig, s: PretrainState, dataset: GroundTruthData) -> float:
    """One Adam step of ``L = mean (G(z) − x(z))²`` on a fresh batch, then the G_ema update; returns ``L``."""
    G = s.G
    device = next(G.parameters()).device
    z = torch.randn([cfg.batch, G.z_dim], generator=s.gen, device=device)
    target = render_targets(dataset, z, cfg.resolution)
    G.requires_grad_(True)
    s.opt.zero_grad(set_to_none=True)
    fake = G.synthesis(map_latents(G, z, None), noise_mode="random", noise_generator=s.gen)
    loss = (fake - target).square().mean()
    loss.backward()
    for p in G.parameters():  # NaN/±inf gradients cleaned as in train-gan (and StyleGAN2-ADA)
        if p.grad is not None:
            torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
    s.opt.step()
    G.requires_grad_(False)
    update_ema(s.G_ema, G, ema_beta(s.cur_nimg, cfg.batch, cfg.ema_half_life_kimg, cfg.ema_rampup))
    s.cur_nimg += cfg.batch
    s.batch_idx += 1
    return float(loss.detach())


def _checkpoint(cfg: PretrainConfig, s: PretrainState, img_channels: int) -> dict[str, Any]:
    return {"format": PRETRAIN_CHECKPOINT_FORMAT, "config": cfg.to_dict(),
            "generator_kwargs": cfg.generator_config().generator_kwargs(img_channels),
            "G": s.G.state_dict(), "G_ema": s.G_ema.state_dict(), "opt": s.opt.state_dict(), "gen": s.gen.get_state(),
            "cur_nimg": s.cur_nimg, "batch_idx": s.batch_idx, "wall_time_s": s.wall_time_s, "history": s.history}


def load_pretrain_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :class:`RendererPretrainer`; one UserError line for any other file."""
    ckpt = torch_load(path, "pretrain-gan checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != PRETRAIN_CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a pretrain-gan checkpoint (expected format {PRETRAIN_CHECKPOINT_FORMAT})")
    return ckpt


class RendererPretrainer:
    """A renderer warm start in ``out_dir`` (config.json, checkpoint.pt, metrics.json, samples/, snapshots/)."""

    def __init__(self, cfg: PretrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True) -> None:
        self.out, self.progress, self.cfg = Path(out_dir), progress, cfg
        self.device = resolve_device(cfg.device)
        ckpt = None
        if resume:
            ckpt = load_pretrain_checkpoint(self.out / CHECKPOINT)
            saved = PretrainConfig.from_dict(ckpt["config"])
            diff = sorted(k for k, value in cfg.trajectory_dict().items() if saved.trajectory_dict().get(k) != value)
            if diff:
                raise UserError(f"--resume: settings differ from the run in {self.out} ({', '.join(diff)}); only "
                                f"--kimg, the intervals, --classifier, --device and --lr may change")
            cfg.lr_schedule = list(saved.lr_schedule)
            if cfg.lr != saved.lr:
                cfg.lr_schedule = cfg.lr_schedule or [[0.0, saved.lr]]
                cfg.lr_schedule.append([round(int(ckpt["cur_nimg"]) / 1000, 3), cfg.lr])
        elif (self.out / CHECKPOINT).exists():
            raise UserError(f"{self.out} already holds a training run; pass --resume to continue it "
                            f"or choose another --out")
        elif self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise UserError(f"--out {self.out} is not an empty directory (another run's or your files are there); "
                            "choose a new or empty directory")
        self.dataset = get_dataset(cfg.dataset, cfg.dataset_path)
        check_latent_width(cfg.z_dim, self.dataset.factor_sizes, self.dataset.name)
        self.channels, height, _ = self.dataset.observation_shape
        if cfg.resolution > height:
            raise UserError(f"--resolution {cfg.resolution} exceeds the dataset's {height} px")
        kwargs = cfg.generator_config().generator_kwargs(self.channels)
        check_fits(5 * model_bytes(lambda: Generator(**kwargs)), "G and G_ema with G's gradients and Adam moments",
                   device=self.device, hint="lower --channel-base / --channel-max / --z-dim / --w-dim / --map-layers")
        self.state = build_pretrain_state(cfg, self.channels, self.device)
        if ckpt is not None:
            s = self.state
            s.G.load_state_dict(ckpt["G"], strict=True)
            s.G_ema.load_state_dict(ckpt["G_ema"], strict=True)
            s.opt.load_state_dict(ckpt["opt"])
            set_learning_rate(s.opt, cfg.lr)  # the moments carry over; the rate is the config's
            s.gen.set_state(ckpt["gen"])
            s.cur_nimg, s.batch_idx = int(ckpt["cur_nimg"]), int(ckpt["batch_idx"])
            s.wall_time_s, s.history = float(ckpt["wall_time_s"]), list(ckpt["history"])
        self.probe: QualityProbe | None = load_quality_probe(cfg.classifier, self.dataset, self.device)
        grid_gen = torch_generator(cfg.seed + GRID_SEED_OFFSET, self.device)
        self.grid_z = torch.randn([64, cfg.z_dim], generator=grid_gen, device=self.device)
        write_json(self.out / "config.json", cfg.to_dict())

    def save_checkpoint(self) -> None:
        torch_save(self.out / CHECKPOINT, _checkpoint(self.cfg, self.state, self.channels))

    def save_samples(self) -> Path:
        images = sample_images(self.state.G_ema, self.grid_z).numpy()
        return save_image_grid(self.out / "samples" / f"fakes{kimg_label(self.state.cur_nimg)}.png", images, nrow=8,
                               scale=2)

    def export(self) -> Path:
        s = self.state
        info = {"trained_by": "latentdirs pretrain-gan (renderer warm start)", "kimg": round(s.cur_nimg / 1000, 3),
                "batch_idx": s.batch_idx, "pretraining": self.cfg.to_dict(), "wall_time_s": round(s.wall_time_s, 1)}
        if s.history and "quality" in s.history[-1]:
            info["quality"] = s.history[-1]["quality"]
        return export_snapshot(s.G_ema, self.out / "snapshots" / f"network-snapshot-{kimg_label(s.cur_nimg)}", info)

    def _check_finite(self, loss: float) -> None:
        bad = [] if math.isfinite(loss) else [f"loss = {loss}"]
        bad += [f"{name} weights" for name in ("G", "G_ema")
                if not all(bool(p.isfinite().all()) for p in getattr(self.state, name).parameters())]
        if bad:
            raise UserError(f"pretraining diverged at kimg {self.state.cur_nimg / 1000:.3f} ({', '.join(bad)} not "
                            f"finite); the checkpoint of the last snapshot is kept (lower --lr)")

    def _record(self, losses: list[float]) -> dict[str, Any]:
        s = self.state
        record = {"kimg": round(s.cur_nimg / 1000, 3), "wall_time_s": round(s.wall_time_s, 1),
                  "lr": self.cfg.lr, "loss_l2": round(sum(losses) / max(len(losses), 1), 5),
                  "grid_l1": round(reconstruction_error(s.G_ema, self.dataset, self.grid_z), 5)}
        if self.probe is not None:
            record["quality"] = self.probe.measure(s.G_ema, self.cfg.quality_samples, self.cfg.seed)
        s.history.append(record)
        write_json(self.out / "metrics.json", s.history)
        return record

    def run(self, max_minutes: float | None = None) -> dict[str, Any]:
        """Train until ``cfg.kimg`` (or ``max_minutes`` of wall time in this call); returns a summary."""
        cfg, s = self.cfg, self.state
        total = int(round(cfg.kimg * 1000))
        if s.cur_nimg == 0:
            targets = (render_targets(self.dataset, self.grid_z, cfg.resolution) + 1) / 2
            save_image_grid(self.out / "samples" / "targets.png", targets.cpu().numpy(), nrow=8, scale=2)
            self.save_samples()
        start = time.time()
        losses: list[float] = []
        bar = progress_bar(total=total, initial=min(s.cur_nimg, total), unit="img", unit_scale=True,
                           desc="pretrain-gan", disable=not self.progress)
        stopped_early = stopping = False
        with StopRequest() as stop:
            while s.cur_nimg < total:
                tick = time.time()
                before = s.cur_nimg
                loss = pretrain_step(cfg, s, self.dataset)
                self._check_finite(loss)
                losses.append(loss)
                s.wall_time_s += time.time() - tick
                bar.update(min(s.cur_nimg, total) - min(before, total))
                stopping = stop.requested
                timed_out = stopping or (max_minutes is not None and time.time() - start > max_minutes * 60)
                done = s.cur_nimg >= total or timed_out
                if stopping:  # Ctrl-C: the checkpoint first (saved again after the pictures and the measure)
                    self.save_checkpoint()
                if _crossed(before, s.cur_nimg, cfg.sample_kimg) or done:
                    self.save_samples()
                if _crossed(before, s.cur_nimg, cfg.quality_kimg) or done:
                    record = self._record(losses)
                    losses = []
                    quality = record.get("quality")
                    extra = f" {quality['metric']} {quality['mean']:.3f}" if quality else ""
                    bar.set_postfix_str(f"kimg {s.cur_nimg / 1000:.1f} L1 {record['grid_l1']:.4f}{extra}")
                elif s.batch_idx % 10 == 0:
                    bar.set_postfix_str(f"kimg {s.cur_nimg / 1000:.1f} L1 {np.mean(losses[-10:]):.4f}")
                if _crossed(before, s.cur_nimg, cfg.snapshot_kimg) or done:
                    self.save_checkpoint()
                    self.export()
                if timed_out:
                    stopped_early = s.cur_nimg < total
                    break
        bar.close()
        if stopping and stopped_early:
            raise Interrupted.at(f"kimg {s.cur_nimg / 1000:.3f} of {total / 1000:g}", self.out / CHECKPOINT)
        summary = run_summary(s, total, stopped_early, self.out)
        write_json(self.out / "summary.json", summary)
        return summary


def pretrain_gan(cfg: PretrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
                 max_minutes: float | None = None) -> dict[str, Any]:
    """Build (or resume) a renderer warm start in ``out_dir`` and train it; returns the summary (also written to
    ``out_dir/summary.json``)."""
    with run_lock(out_dir):
        return RendererPretrainer(cfg, out_dir, resume=resume, progress=progress).run(max_minutes)


def summary_line(summary: dict[str, Any]) -> str:
    """One line for the terminal (the whole record is in summary.json)."""
    state = "finished" if summary["finished"] else "stopped early (continue with --resume)"
    line = (f"pretrain-gan {state}: kimg {summary['kimg']:g} of {summary['target_kimg']:g}, "
            f"{summary['wall_time_s']:g} s of training")
    last = summary.get("last") or {}
    if "grid_l1" in last:
        line += f"; L1 {last['grid_l1']:.4f} on the grid latents"
    line += quality_summary(last)
    return f"{line} → {summary['out']} (summary.json, metrics.json, snapshots/; train-gan --init-from {summary['out']})"
