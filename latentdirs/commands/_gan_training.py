"""What ``train-gan`` and ``pretrain-gan`` share on the command line: the dataset, generator and run-control
options (same flags, so one set of network flags builds the generator ``train-gan --init-from`` expects), and
the command body that resolves the config, trains and prints the summary line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import validation as v
from ._options import BATCH, SAMPLES, SEED, THREADS, BoundedFloat, BoundedInt, device_option

KIMG = BoundedFloat(v.KIMG)
_WIDTH = BoundedInt(v.LATENT_WIDTH)
ARCHITECTURE = click.Choice(list(v.GAN_ARCHITECTURES))
#: CLI option → config field, for options whose names differ
RENAMES = {"style_mixing": "style_mixing_prob", "gamma": "r1_gamma", "ema": "ema_kimg", "arch": "g_architecture",
           "d_arch": "d_architecture", "map_layers": "mapping_layers"}


def _apply(options: list[Callable]) -> Callable[[Callable], Callable]:
    def decorate(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def dataset_and_generator_options(kimg_help: str, batch_help: str, z_help: str) -> Callable[[Callable], Callable]:
    """--out, the dataset, --kimg, --batch and the generator network's flags (defaults in the config)."""
    return _apply([
        click.option("--out", required=True, type=click.Path(file_okay=False),
                     help="Run directory to create (or resume)."),
        click.option("--dataset", default=None,
                     help="dsprites | threedots | ellipses | 3dshapes | mpi3d  [default: dsprites]"),
        click.option("--dataset-path", default=None,
                     help="Dataset file (3dshapes .h5, mpi3d .npz, original dsprites .npz)."),
        click.option("--resolution", type=BoundedInt(v.RESOLUTION), default=None,
                     help="Image size (≤ the dataset's; area-downsampled)  [64]"),
        click.option("--kimg", type=KIMG, default=None, help=kimg_help),
        click.option("--batch", type=BATCH, default=None, help=batch_help),
        click.option("--z-dim", type=_WIDTH, default=None, help=z_help),
        click.option("--w-dim", type=_WIDTH, default=None, help="[64]"),
        click.option("--map-layers", type=BoundedInt(v.MAPPING_LAYERS), default=None,
                     help="Mapping network layers  [2]"),
        click.option("--channel-base", type=BoundedInt(v.CHANNEL_BASE), default=None,
                     help="Channels = min(base // res, max)  [2048]"),
        click.option("--channel-max", type=BoundedInt(v.CHANNEL_MAX), default=None, help="[64]"),
        click.option("--arch", type=ARCHITECTURE, default=None, help="Generator  [skip]"),
    ])


def run_control_options(snapshot_default: float) -> Callable[[Callable], Callable]:
    """G_ema, the seed, the intervals, the quality signal, the device and how this call runs."""
    return _apply([
        click.option("--ema", type=BoundedFloat(v.KIMG_OR_ZERO), default=None,
                     help="G_ema half-life in kimg  [batch·10/32]"),
        click.option("--seed", type=SEED, default=None, help="[0]"),
        click.option("--snapshot-kimg", type=KIMG, default=None,
                     help=f"Checkpoint + generator snapshot every N kimg  [{snapshot_default:g}]"),
        click.option("--sample-kimg", type=KIMG, default=None, help="Sample grid every N kimg  [5]"),
        click.option("--quality-kimg", type=KIMG, default=None, help="Quality signal every N kimg  [5]"),
        click.option("--quality-samples", type=SAMPLES, default=None,
                     help="Samples scored by the quality signal  [256]"),
        click.option("--classifier", default=None, help="Factor classifier for the quality signal: a path stem, "
                                                        "'auto' (bundled one) or 'none'  [auto]"),
        device_option(default=None, help="auto | cpu | cuda | cuda:N | mps  [auto]"),
        click.option("--threads", type=THREADS, default=None,
                     help="torch CPU threads (1 is fastest on a busy machine)."),
        click.option("--max-minutes", type=BoundedFloat(v.MINUTES), default=None,
                     help="Stop (checkpoint, snapshot) after this much wall time; continue later with --resume."),
    ])


def resume_options(func: Callable) -> Callable:
    return _apply([
        click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ])(func)


def train(config_class: Any, command: str, train_run: Callable[..., dict[str, Any]],
          summary_line: Callable[[dict[str, Any]], str], out: str, threads: int | None, max_minutes: float | None,
          resume: bool, quiet: bool, options: dict[str, Any]) -> None:
    """The config from the given options (laid over the saved one on ``--resume``), the run, its summary line."""
    import torch

    from ..distributed import is_main_process
    from ..gan.training.config import resolve_run_config

    if threads is not None:
        torch.set_num_threads(threads)
    given = {RENAMES.get(k, k): value for k, value in options.items() if value is not None}
    cfg = resolve_run_config(config_class, command, out, given, resume)
    summary = train_run(cfg, out, resume=resume, progress=not quiet, max_minutes=max_minutes)
    if is_main_process():  # under torchrun, rank 0 reports
        click.echo(summary_line(summary))  # the whole record: OUT/summary.json
