"""The StyleGAN2 training loop: phases, lazy regularization, EMA, checkpoints and bit-identical resume.

One iteration on a batch of real images ``x`` (in [-1, 1]), as in StyleGAN2-ADA's ``training_loop``:

1. ``Gmain``: minimize the non-saturating loss on fresh latents (style mixing, random noise);
2. ``Greg`` (every ``pl_interval`` iterations, when ``pl_weight > 0``): path-length penalty × interval;
3. ``Dmain``: logistic loss on fresh fakes and ``x``;
4. ``Dreg`` (every ``r1_interval`` iterations, when γ > 0): R1 penalty on ``x`` × γ/2 × interval;
5. ``G_ema`` update, ``cur_nimg += batch``.

Lazy regularization also rescales each optimizer with a regularizer: with ``c = interval/(interval+1)``,
``lr ← lr·c`` and ``βᵢ ← βᵢᶜ`` (Karras et al., CVPR 2020, Appendix B). Every random number comes from
a seeded ``torch.Generator`` (latents, mixing, noise images) or ``numpy.random.RandomState`` (real
batches), both saved in the checkpoint with the networks, optimizers and counters, so a resumed run
continues bit for bit. Sampling for grids and quality uses fixed latents and constant noise and never
touches the training state.

Under ``torchrun --nproc_per_node N`` (:mod:`latentdirs.distributed`) ``batch`` is the global batch B. Every
process draws the whole batch's real images' factors, latents, mixing and noise images from the same streams and
keeps its rows: whole minibatch-std groups (:meth:`~latentdirs.distributed.World.grouped_rows`), so the
discriminator's batch statistic is the one process's; the path-length batch is split evenly and its mean length
averaged over processes; each phase's gradients are averaged over processes before its optimizer step, and the
generator's ``w_avg`` (a linear running mean) after the step. Every loss is a per-sample mean, so this is the
single-process step at batch B. The averaging is one all-reduce per phase (as in StyleGAN3's released loop),
not DistributedDataParallel: a step has up to four backward passes over two networks whose ``requires_grad``
is switched between phases, and R1 differentiates twice, which DDP's one-backward-per-forward bookkeeping does
not follow. Only rank 0 writes (checkpoints, snapshots, grids, metrics); the checkpoint holds the global state,
so a run resumes under any N.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ... import distributed
from ...data.base import GroundTruthData
from ...errors import UserError
from ...io import save_image_grid, torch_load, torch_save, write_json
from ...runlock import run_lock
from ...seeding import random_state_from_tensor_dict, random_state_to_tensor_dict, resolve_device, torch_generator
from ...validation import check_fits, model_bytes
from ..discriminator import Discriminator
from ..generator import Generator
from .config import GANTrainConfig
from .ema import ema_beta, update_ema
from .loss import discriminator_loss, generator_loss, normal, path_length_penalty, r1_penalty, run_generator
from .quality import QualityProbe, load_quality_probe
from .run import (
    CHECKPOINT,
    TrainingRun,
    check_new_run_directory,
    grid_latents,
    open_dataset,
)
from .run import summary_line as run_summary_line

CHECKPOINT_FORMAT = "latentdirs.gan_training/1"
#: the checkpoints of ``pretrain-gan`` (:mod:`.renderer_warmstart`): G and G_ema, no D; ``--init-from`` reads them
PRETRAIN_CHECKPOINT_FORMAT = "latentdirs.gan_renderer_pretrain/1"


@dataclass
class TrainState:
    """Everything a checkpoint holds besides the config."""

    G: Generator
    D: Discriminator
    G_ema: Generator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    gen: torch.Generator
    data_rs: np.random.RandomState
    pl_mean: torch.Tensor
    cur_nimg: int = 0
    batch_idx: int = 0
    wall_time_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def lazy_adam(params: Any, lr: float, betas: tuple[float, float], interval: int | None) -> torch.optim.Adam:
    """Adam with the lazy-regularization correction ``c = interval/(interval+1)`` (none when interval is None)."""
    if interval is None:
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=1e-8)
    c = interval / (interval + 1)
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=1e-8)


def build_state(cfg: GANTrainConfig, img_channels: int, device: torch.device) -> TrainState:
    """Fresh networks (initialized from ``cfg.seed``), optimizers and random states."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        G = Generator(**cfg.generator_kwargs(img_channels))
        D = Discriminator(**cfg.discriminator_kwargs(img_channels))
    G = G.to(device).train().requires_grad_(False)
    D = D.to(device).train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    opt_G = lazy_adam(G.parameters(), cfg.g_lr, cfg.betas, cfg.pl_interval if cfg.pl_weight > 0 else None)
    opt_D = lazy_adam(D.parameters(), cfg.d_lr, cfg.betas, cfg.r1_interval if cfg.gamma > 0 else None)
    return TrainState(G=G, D=D, G_ema=G_ema, opt_G=opt_G, opt_D=opt_D, gen=torch_generator(cfg.seed, device),
                      data_rs=np.random.RandomState(cfg.seed % 2**32),
                      pl_mean=torch.zeros([], device=device))


def state_to_checkpoint(cfg: GANTrainConfig, s: TrainState) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT, "config": cfg.to_dict(),
        "G": s.G.state_dict(), "D": s.D.state_dict(), "G_ema": s.G_ema.state_dict(),
        "opt_G": s.opt_G.state_dict(), "opt_D": s.opt_D.state_dict(),
        "gen": s.gen.get_state(), "data_rs": random_state_to_tensor_dict(s.data_rs), "pl_mean": s.pl_mean.cpu(),
        "cur_nimg": s.cur_nimg, "batch_idx": s.batch_idx, "wall_time_s": s.wall_time_s, "history": s.history,
    }


def load_training_checkpoint(path: Path, what: str) -> dict[str, Any]:
    """A checkpoint written by :func:`state_to_checkpoint`; one UserError line for any other file."""
    ckpt = torch_load(path, what)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{what} {path} is not a train-gan checkpoint (expected format {CHECKPOINT_FORMAT})")
    return ckpt


def restore_checkpoint(s: TrainState, ckpt: dict[str, Any], device: torch.device) -> None:
    for name in ("G", "D", "G_ema"):
        getattr(s, name).load_state_dict(ckpt[name], strict=True)
    s.opt_G.load_state_dict(ckpt["opt_G"])
    s.opt_D.load_state_dict(ckpt["opt_D"])
    s.gen.set_state(ckpt["gen"])
    s.data_rs = random_state_from_tensor_dict(ckpt["data_rs"])
    s.pl_mean = ckpt["pl_mean"].to(device)
    s.cur_nimg, s.batch_idx = int(ckpt["cur_nimg"]), int(ckpt["batch_idx"])
    s.wall_time_s, s.history = float(ckpt["wall_time_s"]), list(ckpt["history"])


def warm_start(s: TrainState, cfg: GANTrainConfig, img_channels: int) -> None:
    """Copy G, D and G_ema from the checkpoint ``cfg.init_from`` (a file or a run directory) into a fresh run;
    from a ``pretrain-gan`` checkpoint (the renderer warm start) G and G_ema only, D keeping its fresh
    initialization from ``cfg.seed``.

    Optimizer moments, counters and random states start fresh, so a warm start can change the learning
    rates, R1 weight, batch or seed (fine-tuning); the network architecture must be the same. The G_ema
    half-life has no ramp-up in such a run (its image counter restarts at 0, and the ramp-up would replace
    the loaded G_ema by G at the first step), as StyleGAN2-ADA does when it resumes.
    """
    path = Path(cfg.init_from)
    if path.is_dir():
        path = path / CHECKPOINT
    ckpt = torch_load(path, "--init-from checkpoint")
    if isinstance(ckpt, dict) and ckpt.get("format") == PRETRAIN_CHECKPOINT_FORMAT:
        theirs = {"generator": ckpt["generator_kwargs"]}
        names: tuple[str, ...] = ("G", "G_ema")
    else:
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise UserError(f"--init-from checkpoint {path} is not a train-gan checkpoint, nor a pretrain-gan one "
                            f"(expected format {CHECKPOINT_FORMAT} or {PRETRAIN_CHECKPOINT_FORMAT})")
        source = GANTrainConfig.from_dict(ckpt["config"])
        theirs = {kind: getattr(source, f"{kind}_kwargs")(img_channels) for kind in ("generator", "discriminator")}
        names = ("G", "D", "G_ema")
    for kind, their_kwargs in theirs.items():
        ours = getattr(cfg, f"{kind}_kwargs")(img_channels)
        if ours != their_kwargs:
            raise UserError(f"--init-from {cfg.init_from}: its {kind} ({their_kwargs}) differs from this run's "
                            f"({ours})")
    for name in names:
        getattr(s, name).load_state_dict(ckpt[name], strict=True)


@dataclass(frozen=True)
class Shard:
    """This process's share of each global batch under torchrun (see the module docstring)."""

    world: distributed.World
    batch: int  # the global batch
    rows: torch.Tensor  # of the global batch: whole minibatch-std groups
    pl_rows: torch.Tensor  # of the path-length batch

    @staticmethod
    def create(world: distributed.World, cfg: GANTrainConfig) -> Shard:
        """The shard of ``world``'s rank; a UserError when the batch does not split into whole groups per rank."""
        rows = world.grouped_rows(cfg.batch, min(cfg.mbstd_group, cfg.batch))
        pl_batch = max(cfg.batch // cfg.pl_batch_shrink, 1)
        pl_rows = torch.arange(pl_batch)[world.rows(pl_batch, "the path-length batch (--batch / 2)")] \
            if cfg.pl_weight > 0 else torch.arange(0)
        return Shard(world, cfg.batch, rows, pl_rows)


def real_batch(dataset: GroundTruthData, n: int, rs: np.random.RandomState, resolution: int,
               device: torch.device, rows: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` dataset images in [-1, 1], area-downsampled to ``resolution`` when smaller than the dataset's; with
    ``rows``, only those rows of the ``n`` drawn (the same draws)."""
    if rows is None:
        images = dataset.sample_observations(n, rs)
    else:
        images = dataset.observations_from_factors(dataset.sample_factors(n, rs)[rows.numpy()])
    return generator_range(images, resolution, device)


def generator_range(images: np.ndarray, resolution: int, device: torch.device) -> torch.Tensor:
    """Dataset images ``[N, C, H, W]`` in [0, 1] as the generator draws them: in [-1, 1], area-downsampled to
    ``resolution`` when smaller."""
    x = torch.from_numpy(images).to(device)
    if x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="area")
    return x * 2.0 - 1.0


def _step(cfg: GANTrainConfig, s: TrainState, real: torch.Tensor, shard: Shard | None = None) -> dict[str, float]:
    """One iteration (all phases + EMA); returns the logged scalars. ``real``: the batch, or under torchrun this
    process's ``shard.rows`` of it (the logged values are then the means over processes)."""
    G, D, gen = s.G, s.D, s.gen
    world = shard.world if shard is not None else distributed.World()
    batch = shard.batch if shard is not None else real.shape[0]
    draws = distributed.RowDraws(gen, batch, shard.rows) if shard is not None else gen
    stats: dict[str, float] = {}

    # Gmain (and Greg): the generator's turn.
    G.requires_grad_(True)
    s.opt_G.zero_grad(set_to_none=True)
    z = normal([real.shape[0], G.z_dim], draws, real.device)
    fake, _ = run_generator(G, z, None, cfg.style_mixing_prob, draws)
    loss_G, _ = generator_loss(D, fake, None)
    loss_G.backward()
    _finite_step(s.opt_G, G, world)
    stats["loss_G"] = loss_G.detach()
    if cfg.pl_weight > 0 and s.batch_idx % cfg.pl_interval == 0:
        s.opt_G.zero_grad(set_to_none=True)
        pl_batch = max(batch // cfg.pl_batch_shrink, 1)
        pl_draws = distributed.RowDraws(gen, pl_batch, shard.pl_rows) if shard is not None else gen
        z = normal([pl_batch // world.size, G.z_dim], pl_draws, real.device)
        penalty, s.pl_mean = path_length_penalty(G, z, None, s.pl_mean, cfg.style_mixing_prob, pl_draws, cfg.pl_decay,
                                                 mean=world.mean if world.distributed else None)
        (penalty.mean() * cfg.pl_weight * cfg.pl_interval).backward()
        _finite_step(s.opt_G, G, world)
        stats["pl_penalty"] = penalty.mean().detach()
    G.requires_grad_(False)

    # Dmain (and Dreg): the discriminator's turn.
    D.requires_grad_(True)
    s.opt_D.zero_grad(set_to_none=True)
    z = normal([real.shape[0], G.z_dim], draws, real.device)
    with torch.no_grad():
        fake, _ = run_generator(G, z, None, cfg.style_mixing_prob, draws)
    loss_D, fake_logits, real_logits = discriminator_loss(D, fake, real, None, None)
    loss_D.backward()
    _finite_step(s.opt_D, D, world)
    stats.update(loss_D=loss_D.detach(), score_real=real_logits.mean().detach(),
                 score_fake=fake_logits.mean().detach())
    if cfg.gamma > 0 and s.batch_idx % cfg.r1_interval == 0:
        s.opt_D.zero_grad(set_to_none=True)
        penalty = r1_penalty(D, real, None)
        (penalty.mean() * (cfg.gamma / 2) * cfg.r1_interval).backward()
        _finite_step(s.opt_D, D, world)
        stats["r1_penalty"] = penalty.mean().detach()
    D.requires_grad_(False)
    # w_avg: each process's running mean over its rows; as the update is linear, the mean of those is the batch's
    world.average_([buffer for name, buffer in G.named_buffers() if name.endswith("w_avg")])
    if world.distributed:
        values = torch.stack(list(stats.values()))
        world.average_([values])
        stats = dict(zip(stats, values.unbind(), strict=True))
    stats = {key: value.item() for key, value in stats.items()}

    rampup = None if cfg.init_from else cfg.ema_rampup  # a warm start keeps its G_ema (StyleGAN2-ADA on resume)
    update_ema(s.G_ema, G, ema_beta(s.cur_nimg, batch, cfg.ema_half_life_kimg, rampup))
    s.cur_nimg += batch
    s.batch_idx += 1
    return stats


def _finite_step(opt: torch.optim.Optimizer, module: torch.nn.Module, world: distributed.World) -> None:
    """Average the gradients over processes (torchrun), replace NaN/±inf ones (by 0/±1e5, as the reference loop
    does), then step."""
    world.average_([p.grad for p in module.parameters()])
    for p in module.parameters():
        if p.grad is not None:
            torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)
    opt.step()


class GANTrainer(TrainingRun):
    """A training run in ``out_dir`` (config.json, checkpoint.pt, snapshots/, samples/, metrics.json)."""

    command = "train-gan"
    networks = ("G", "D", "G_ema")
    lr_hint = "lower --g-lr / --d-lr"

    def __init__(self, cfg: GANTrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True) -> None:
        self.out = Path(out_dir)
        self.device = resolve_device(cfg.device)
        ckpt = None
        if resume:
            ckpt = load_training_checkpoint(self.out / CHECKPOINT, "GAN training checkpoint")
            cfg.check_resumes(GANTrainConfig.from_dict(ckpt["config"]), self.out)
        else:
            check_new_run_directory(self.out)
        self.cfg = cfg
        world = distributed.environment_world()
        self.shard = Shard.create(world, cfg) if world.distributed else None  # before joining: a bad size stops all
        self.world, self.device = distributed.setup(self.device)
        self.progress = progress and self.world.is_main
        self.dataset, channels = open_dataset(cfg.dataset, cfg.dataset_path, cfg.resolution)
        networks = (model_bytes(lambda: Generator(**cfg.generator_kwargs(channels)))
                    + model_bytes(lambda: Discriminator(**cfg.discriminator_kwargs(channels))))
        check_fits(5 * networks, "G, D and G_ema with their gradients and Adam moments", device=self.device,
                   hint="lower --channel-base / --channel-max / --z-dim / --w-dim / --map-layers")
        self.state = build_state(cfg, channels, self.device)
        if ckpt is not None:
            restore_checkpoint(self.state, ckpt, self.device)
        elif cfg.init_from:
            warm_start(self.state, cfg, channels)
        self.probe: QualityProbe | None = None
        if self.world.is_main:  # rank 0 measures, draws and writes
            self.probe = load_quality_probe(cfg.classifier, self.dataset, self.device)
        self.grid_z = grid_latents(cfg.seed, cfg.z_dim, self.device)
        if self.world.is_main:
            write_json(self.out / "config.json", cfg.to_dict())

    def step(self) -> dict[str, float]:
        rows = self.shard.rows if self.shard is not None else None
        real = real_batch(self.dataset, self.cfg.batch, self.state.data_rs, self.cfg.resolution, self.device, rows)
        return _step(self.cfg, self.state, real, self.shard)

    def save_checkpoint(self) -> None:
        torch_save(self.out / CHECKPOINT, state_to_checkpoint(self.cfg, self.state))

    def save_first_pictures(self) -> None:
        reals = (real_batch(self.dataset, 64, np.random.RandomState(self.cfg.seed + 1), self.cfg.resolution,
                            self.device) + 1) / 2
        save_image_grid(self.out / "samples" / "reals.png", reals.cpu().numpy(), nrow=8, scale=2)

    def snapshot_info(self) -> dict[str, Any]:
        return {"training": self.cfg.to_dict()}

    def progress_text(self, values: dict[str, Any]) -> str:
        return f"G {values.get('loss_G', math.nan):.3f} D {values.get('loss_D', math.nan):.3f}"


def train_gan(cfg: GANTrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
              max_minutes: float | None = None) -> dict[str, Any]:
    """Build (or resume) a run in ``out_dir`` and train it; returns the summary of :meth:`GANTrainer.run` (also
    written to ``out_dir/summary.json``)."""
    if max_minutes is not None and (math.isnan(max_minutes) or max_minutes <= 0):
        raise UserError(f"--max-minutes must be > 0, got {max_minutes}")
    # one process per run folder; under torchrun rank 0, the one that writes, holds the lock for all ranks
    with run_lock(out_dir) if distributed.is_main_process() else contextlib.nullcontext():
        return GANTrainer(cfg, out_dir, resume=resume, progress=progress).run(max_minutes)


def summary_line(summary: dict[str, Any]) -> str:
    """One line for the terminal from :meth:`GANTrainer.run`'s summary (the whole record is in summary.json)."""
    last = summary.get("last") or {}
    losses = f"; last G {last['loss_G']:.3f} D {last.get('loss_D', math.nan):.3f}" if "loss_G" in last else ""
    return run_summary_line("train-gan", summary, losses)
