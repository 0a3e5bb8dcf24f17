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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ... import distributed
from ... import validation as v
from ...data.base import GroundTruthData
from ...errors import UserError
from ...io import save_image_grid, torch_load, torch_save, write_json
from ...runlock import run_lock
from ...seeding import resolve_device, torch_generator
from ...validation import check_fits, model_bytes
from ..generator import Generator
from .config import RUN_CONTROLS, GANTrainConfig, RunConfig
from .ema import ema_beta, update_ema
from .factor_latents import check_latent_width, factors_from_latents
from .loop import PRETRAIN_CHECKPOINT_FORMAT, generator_range
from .loss import map_latents
from .quality import QualityProbe, load_quality_probe
from .run import (
    CHECKPOINT,
    TrainingRun,
    check_new_run_directory,
    grid_latents,
    open_dataset,
)
from .run import summary_line as run_summary_line

#: StyleGAN2's learning-rate multiplier of the mapping network (its default, kept by train-gan's generators)
MAPPING_LR_MULTIPLIER = 0.01
_GENERATOR_FIELDS = ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                     "g_architecture")
_NUMBERS = ("batch", "ema_kimg", "ema_rampup", "seed", "kimg", "snapshot_kimg", "sample_kimg", "quality_kimg",
            "quality_samples")


@dataclass
class PretrainConfig(RunConfig):
    """Settings of a renderer warm start (``config.json`` of the run). The generator fields and their defaults are
    ``train-gan``'s, so the same flags give the network ``train-gan --init-from`` expects."""

    WHAT: ClassVar[str] = "pretrain-gan"
    #: what ``--resume`` may change: ``train-gan``'s run controls and the learning rate (a lower rate to polish a
    #: run whose loss has flattened; the new rate applies from the resume point and ``lr_schedule`` records where)
    CONTROLS: ClassVar[tuple[str, ...]] = (*RUN_CONTROLS, "lr", "lr_schedule")
    BOUNDS: ClassVar[dict[str, v.Bounds]] = {**{name: GANTrainConfig.BOUNDS[name] for name in _NUMBERS},
                                             "lr": v.LEARNING_RATE}

    kimg: float = 50.0
    snapshot_kimg: float = 5.0
    betas: tuple[float, float] = (0.9, 0.99)
    lr: float = 0.02
    #: ``[[kimg, lr], …]`` from ``[0, first lr]`` on, once a ``--resume`` changed ``lr`` (empty until then)
    lr_schedule: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._check_common(("dataset",), ("dataset_path", "classifier"))
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


class RendererPretrainer(TrainingRun):
    """A renderer warm start in ``out_dir`` (config.json, checkpoint.pt, metrics.json, samples/, snapshots/)."""

    command = "pretrain-gan"
    networks = ("G", "G_ema")
    lr_hint = "lower --lr"
    world = distributed.World()  # one process

    def __init__(self, cfg: PretrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True) -> None:
        self.out, self.progress, self.cfg = Path(out_dir), progress, cfg
        self.device = resolve_device(cfg.device)
        ckpt = None
        if resume:
            ckpt = load_pretrain_checkpoint(self.out / CHECKPOINT)
            saved = PretrainConfig.from_dict(ckpt["config"])
            cfg.check_resumes(saved, self.out)
            cfg.lr_schedule = list(saved.lr_schedule)
            if cfg.lr != saved.lr:
                cfg.lr_schedule = cfg.lr_schedule or [[0.0, saved.lr]]
                cfg.lr_schedule.append([round(int(ckpt["cur_nimg"]) / 1000, 3), cfg.lr])
        else:
            check_new_run_directory(self.out)
        self.dataset, self.channels = open_dataset(cfg.dataset, cfg.dataset_path, cfg.resolution)
        check_latent_width(cfg.z_dim, self.dataset.factor_sizes, self.dataset.name)
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
        self.grid_z = grid_latents(cfg.seed, cfg.z_dim, self.device)
        write_json(self.out / "config.json", cfg.to_dict())

    def step(self) -> dict[str, float]:
        return {"loss_l2": pretrain_step(self.cfg, self.state, self.dataset)}

    def save_checkpoint(self) -> None:
        torch_save(self.out / CHECKPOINT, _checkpoint(self.cfg, self.state, self.channels))

    def save_first_pictures(self) -> None:
        targets = (render_targets(self.dataset, self.grid_z, self.cfg.resolution) + 1) / 2
        save_image_grid(self.out / "samples" / "targets.png", targets.cpu().numpy(), nrow=8, scale=2)

    def snapshot_info(self) -> dict[str, Any]:
        return {"trained_by": "latentdirs pretrain-gan (renderer warm start)", "pretraining": self.cfg.to_dict()}

    def reading_extras(self) -> dict[str, Any]:
        return {"lr": self.cfg.lr,
                "grid_l1": round(reconstruction_error(self.state.G_ema, self.dataset, self.grid_z), 5)}

    def progress_text(self, values: dict[str, Any]) -> str:
        text = f"L2 {values.get('loss_l2', math.nan):.4f}"
        return text + (f" L1 {values['grid_l1']:.4f}" if "grid_l1" in values else "")


def pretrain_gan(cfg: PretrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
                 max_minutes: float | None = None) -> dict[str, Any]:
    """Build (or resume) a renderer warm start in ``out_dir`` and train it; returns the summary (also written to
    ``out_dir/summary.json``)."""
    with run_lock(out_dir):
        return RendererPretrainer(cfg, out_dir, resume=resume, progress=progress).run(max_minutes)


def summary_line(summary: dict[str, Any]) -> str:
    """One line for the terminal (the whole record is in summary.json)."""
    last = summary.get("last") or {}
    losses = f"; L1 {last['grid_l1']:.4f} on the grid latents" if "grid_l1" in last else ""
    return run_summary_line("pretrain-gan", summary, losses, f"; train-gan --init-from {summary['out']}")
