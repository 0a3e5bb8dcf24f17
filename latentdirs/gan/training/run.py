"""What a ``train-gan`` run and a ``pretrain-gan`` run share: the run directory, its outputs and the loop.

A run directory holds ``config.json``, ``checkpoint.pt`` (everything a bit-identical resume needs),
``metrics.json`` (one reading per ``quality_kimg``), ``summary.json``, ``samples/fakesNNNNNN.png`` (64 fixed
latents, constant noise) and ``snapshots/network-snapshot-NNNNNN.{json,safetensors}`` (G_ema, for
``load_generator``). :class:`TrainingRun` is the loop around one training step: progress bar, sample grids,
quality readings, checkpoints and snapshots at their intervals, a time limit and Ctrl-C (checkpoint first, then
:class:`~latentdirs.interrupt.Interrupted`); a subclass supplies the step and what its readings add.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from ... import distributed
from ...data import get_dataset
from ...data.base import GroundTruthData
from ...errors import UserError
from ...interrupt import Interrupted, StopRequest
from ...io import save_image_grid, write_json
from ...progress import progress_bar
from ...seeding import torch_generator
from ..generator import Generator
from .quality import QualityProbe
from .snapshot import export_snapshot

CHECKPOINT = "checkpoint.pt"
GRID_SEED_OFFSET = 1_000_003


def kimg_label(nimg: int) -> str:
    """File-name label of a training point: whole kimg as ``000034`` (StyleGAN2-ADA's names), else with the
    remaining images, ``000001_512``; file names sort in training order (``_`` sorts after the ``.`` of
    ``000001.json``), and intervals below 1 kimg no longer overwrite each other's snapshots and grids."""
    whole, rest = divmod(int(nimg), 1000)
    return f"{whole:06d}_{rest:03d}" if rest else f"{whole:06d}"


def crossed(before: int, after: int, every_kimg: float) -> bool:
    """Whether a step from ``before`` to ``after`` images passed a multiple of ``every_kimg``."""
    step = max(int(round(every_kimg * 1000)), 1)
    return after // step > before // step


@torch.no_grad()
def sample_images(G: Generator, z: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``G(z)`` with constant noise, mapped to [0, 1]: ``[N, C, R, R]`` on the CPU."""
    chunks = [G(z[i:i + batch_size], None, noise_mode="const").clamp(-1, 1).add(1).div(2).cpu()
              for i in range(0, z.shape[0], batch_size)]
    return torch.cat(chunks)


def grid_latents(seed: int, z_dim: int, device: torch.device) -> torch.Tensor:
    """The 64 fixed latents of a run's sample grids (a stream of their own, apart from training's)."""
    return torch.randn([64, z_dim], generator=torch_generator(seed + GRID_SEED_OFFSET, device), device=device)


def check_new_run_directory(out: Path) -> None:
    """A new run needs ``out`` absent or an empty directory."""
    if (out / CHECKPOINT).exists():
        raise UserError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} is not an empty directory (another run's or your files are there); "
                        "choose a new or empty directory")


def open_dataset(name: str, path: str | None, resolution: int) -> tuple[GroundTruthData, int]:
    """The run's dataset and its image channels; its images must be at least ``resolution`` pixels."""
    dataset = get_dataset(name, path)
    channels, height, _ = dataset.observation_shape
    if resolution > height:
        raise UserError(f"--resolution {resolution} exceeds the dataset's {height} px")
    return dataset, channels


def run_summary(s: Any, total: int, stopped_early: bool, out: Path) -> dict[str, Any]:
    """What a training run returns and writes to summary.json: where it stands (``s``: its state with
    ``cur_nimg``, ``batch_idx``, ``wall_time_s``, ``history``) against ``total`` images."""
    return {"kimg": s.cur_nimg / 1000, "target_kimg": total / 1000, "batch_idx": s.batch_idx,
            "wall_time_s": round(s.wall_time_s, 1), "finished": not stopped_early and s.cur_nimg >= total,
            "last": s.history[-1] if s.history else None, "out": str(out)}


def quality_summary(record: dict[str, Any]) -> str:
    """``, colour 0.717, worst TV 0.28 (aspect)`` from a metrics record's quality reading; empty without one."""
    quality = record.get("quality")
    if not quality:
        return ""
    coverage = quality.get("coverage") or {}
    line = f", {quality['metric']} {quality['mean']:.3f}"
    if "worst_factor" in coverage:
        line += f", worst TV {coverage['worst_tv']:.2f} ({coverage['worst_factor']})"
    return line


def summary_line(command: str, summary: dict[str, Any], losses: str, outputs: str = "") -> str:
    """One line for the terminal from a run's summary: its state, ``losses`` (read from the last reading), the
    quality signal and where its files are (the whole record is in summary.json)."""
    state = "finished" if summary["finished"] else "stopped early (continue with --resume)"
    line = (f"{command} {state}: kimg {summary['kimg']:g} of {summary['target_kimg']:g}, "
            f"{summary['wall_time_s']:g} s of training{losses}{quality_summary(summary.get('last') or {})}")
    return f"{line} → {summary['out']} (summary.json, metrics.json, snapshots/{outputs})"


class TrainingRun:
    """The loop of a run in ``self.out``. A subclass sets ``cfg`` (with ``kimg``, ``seed``, ``quality_samples``
    and the ``*_kimg`` intervals), ``state`` (with ``G_ema``, ``cur_nimg``, ``batch_idx``, ``wall_time_s`` and
    ``history``), ``grid_z``, ``probe`` and ``world``, and implements the methods that raise below."""

    command: str  # the CLI command, for the progress bar and messages
    networks: tuple[str, ...]  # the state's modules whose weights must stay finite
    lr_hint: str  # what to lower when training diverges
    out: Path
    cfg: Any
    state: Any
    grid_z: torch.Tensor
    probe: QualityProbe | None
    world: distributed.World
    progress: bool

    # -- what a subclass supplies -------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """One training step; its logged scalars (averaged into the next reading)."""
        raise NotImplementedError

    def save_checkpoint(self) -> None:
        raise NotImplementedError

    def save_first_pictures(self) -> None:
        """What a new run draws once before training (the reals, or the targets)."""
        raise NotImplementedError

    def snapshot_info(self) -> dict[str, Any]:
        """The provenance a snapshot carries besides the training point and the last quality reading."""
        raise NotImplementedError

    def reading_extras(self) -> dict[str, Any]:
        """What a reading records besides the means of the step's scalars and the quality signal."""
        return {}

    def progress_text(self, values: dict[str, float]) -> str:
        """The progress bar's losses from the means since the last reading (or a reading's record)."""
        raise NotImplementedError

    # -- outputs ------------------------------------------------------------------------------------
    def save_samples(self) -> Path:
        images = sample_images(self.state.G_ema, self.grid_z).numpy()
        return save_image_grid(self.out / "samples" / f"fakes{kimg_label(self.state.cur_nimg)}.png", images, nrow=8,
                               scale=2)

    def export(self) -> Path:
        s = self.state
        info = {**self.snapshot_info(), "kimg": round(s.cur_nimg / 1000, 3), "batch_idx": s.batch_idx,
                "wall_time_s": round(s.wall_time_s, 1)}
        if s.history and "quality" in s.history[-1]:
            info["quality"] = s.history[-1]["quality"]
        return export_snapshot(s.G_ema, self.out / "snapshots" / f"network-snapshot-{kimg_label(s.cur_nimg)}", info)

    def measure_quality(self) -> dict[str, Any] | None:
        if self.probe is None:
            return None
        return self.probe.measure(self.state.G_ema, self.cfg.quality_samples, self.cfg.seed)

    def check_finite(self, stats: dict[str, float]) -> None:
        """Stop the run when a scalar of the last step or a weight of a network is NaN/±inf, before anything of it
        is saved: the checkpoint of the last snapshot (the last good state) and the snapshots stay as they were.
        (Gradients are already cleaned of NaN per step, as in StyleGAN2-ADA; this catches weights that blow up.)"""
        bad = [f"{key} = {value}" for key, value in stats.items() if not math.isfinite(value)]
        bad += [f"{name} weights" for name in self.networks
                if not all(bool(p.isfinite().all()) for p in getattr(self.state, name).parameters())]
        if bad:
            checkpoint = self.out / CHECKPOINT
            kept = (f"the last good checkpoint, {checkpoint}, is kept" if checkpoint.exists()
                    else "no checkpoint had been saved yet")
            raise UserError(f"training diverged at kimg {self.state.cur_nimg / 1000:.3f} ({', '.join(bad)} not "
                            f"finite); {kept} ({self.lr_hint})")

    # -- the loop -----------------------------------------------------------------------------------
    def _reading(self, sums: dict[str, float], counts: dict[str, int]) -> dict[str, Any]:
        s = self.state
        record = {"kimg": round(s.cur_nimg / 1000, 3), "wall_time_s": round(s.wall_time_s, 1),
                  **self.reading_extras(), **{key: round(sums[key] / counts[key], 5) for key in sums}}
        quality = self.measure_quality()
        if quality is not None:
            record["quality"] = quality
        s.history.append(record)
        if self.world.is_main:
            write_json(self.out / "metrics.json", s.history)
        return record

    def run(self, max_minutes: float | None = None) -> dict[str, Any]:
        """Train until ``cfg.kimg`` (or ``max_minutes`` of wall time in this call); returns the summary (written to
        summary.json)."""
        cfg, s = self.cfg, self.state
        total = int(round(cfg.kimg * 1000))
        main = self.world.is_main
        if s.cur_nimg == 0 and main:
            self.save_first_pictures()
            self.save_samples()
        start = time.time()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        last_quality = ""
        bar = progress_bar(total=total, initial=min(s.cur_nimg, total), unit="img", unit_scale=True,
                           desc=self.command, disable=not self.progress)
        stopped_early = stopping = False
        with StopRequest() as stop:
            while s.cur_nimg < total:
                tick_start = time.time()
                before = s.cur_nimg
                stats = self.step()
                self.check_finite(stats)
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                s.wall_time_s += time.time() - tick_start
                bar.update(min(s.cur_nimg, total) - min(before, total))
                # under torchrun every process stops at the same step: when one runs out of time or sees Ctrl-C
                stopping = self.world.any(stop.requested)
                timed_out = self.world.any(max_minutes is not None and time.time() - start > max_minutes * 60)
                timed_out = timed_out or stopping  # Ctrl-C: finish like a time-out (samples, checkpoint)
                done = s.cur_nimg >= total or timed_out
                if s.batch_idx % 10 == 0 or done:
                    means = {key: sums[key] / counts[key] for key in sums}
                    bar.set_postfix_str(f"kimg {s.cur_nimg / 1000:.1f} {self.progress_text(means)}{last_quality}")
                if stopping and main:  # Ctrl-C: the checkpoint first, so that a second one during the pictures and
                    self.save_checkpoint()  # the quality measure below loses nothing (saved again after them)
                if (crossed(before, s.cur_nimg, cfg.sample_kimg) or done) and main:
                    self.save_samples()
                if crossed(before, s.cur_nimg, cfg.quality_kimg) or done:
                    record = self._reading(sums, counts)
                    sums, counts = {}, {}
                    last_quality = quality_summary(record).replace(",", "")
                    bar.set_postfix_str(f"kimg {s.cur_nimg / 1000:.1f} {self.progress_text(record)}{last_quality}")
                if (crossed(before, s.cur_nimg, cfg.snapshot_kimg) or done) and main:
                    self.save_checkpoint()
                    self.export()
                if timed_out:
                    stopped_early = s.cur_nimg < total
                    break
        bar.close()
        if stopping and stopped_early:
            raise Interrupted.at(f"kimg {s.cur_nimg / 1000:.3f} of {total / 1000:g}", self.out / CHECKPOINT)
        summary = run_summary(s, total, stopped_early, self.out)
        if main:
            write_json(self.out / "summary.json", summary)
        return summary
