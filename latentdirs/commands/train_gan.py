"""``latentdirs train-gan``: train a StyleGAN2 generator on a ground-truth dataset (logic in gan.training)."""

from __future__ import annotations

from typing import Any

import click

from .. import validation as v
from ._options import (
    BATCH,
    LR,
    SAMPLES,
    SEED,
    THREADS,
    BoundedFloat,
    BoundedInt,
    device_option,
)

_KIMG = BoundedFloat(v.KIMG)
_WIDTH = BoundedInt(v.LATENT_WIDTH)
_BASE = BoundedInt(v.CHANNEL_BASE)
_MAX = BoundedInt(v.CHANNEL_MAX)

#: CLI option → config field, for options whose names differ
_RENAMES = {"style_mixing": "style_mixing_prob", "gamma": "r1_gamma", "ema": "ema_kimg", "arch": "g_architecture",
            "d_arch": "d_architecture", "map_layers": "mapping_layers"}


@click.command("train-gan", context_settings={"max_content_width": 110})
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to create (or resume).")
@click.option("--dataset", default=None, help="dsprites | threedots | 3dshapes | mpi3d  [default: dsprites]")
@click.option("--dataset-path", default=None, help="Dataset file (3dshapes .h5, mpi3d .npz, original dsprites .npz).")
@click.option("--resolution", type=BoundedInt(v.RESOLUTION), default=None,
              help="Image size (≤ the dataset's; area-downsampled)  [64]")
@click.option("--kimg", type=_KIMG, default=None, help="Train until this many thousand real images  [100]")
@click.option("--batch", type=BATCH, default=None, help="Batch size, a multiple of the mbstd group  [32]")
@click.option("--z-dim", type=_WIDTH, default=None, help="[64]")
@click.option("--w-dim", type=_WIDTH, default=None, help="[64]")
@click.option("--map-layers", type=BoundedInt(v.MAPPING_LAYERS), default=None, help="Mapping network layers  [2]")
@click.option("--channel-base", type=_BASE, default=None, help="Channels = min(base // res, max)  [2048]")
@click.option("--channel-max", type=_MAX, default=None, help="[64]")
@click.option("--d-channel-base", type=_BASE, default=None, help="Discriminator's channel base  [--channel-base]")
@click.option("--d-channel-max", type=_MAX, default=None, help="Discriminator's channel max  [--channel-max]")
@click.option("--arch", type=click.Choice(["orig", "skip", "resnet"]), default=None, help="Generator  [skip]")
@click.option("--d-arch", type=click.Choice(["orig", "skip", "resnet"]), default=None, help="Discriminator  [resnet]")
@click.option("--g-lr", type=LR, default=None, help="Adam lr of G  [0.0025]")
@click.option("--d-lr", type=LR, default=None, help="Adam lr of D  [0.0025]")
@click.option("--gamma", type=BoundedFloat(v.WEIGHT), default=None, help="R1 weight  [0.0002·res²/batch]")
@click.option("--r1-interval", type=BoundedInt(v.REG_INTERVAL), default=None, help="Lazy R1 every N D steps  [16]")
@click.option("--pl-weight", type=BoundedFloat(v.WEIGHT), default=None,
              help="Path-length regularization weight, 0 = off  [0]")
@click.option("--style-mixing", type=BoundedFloat(v.PROBABILITY), default=None, help="Style-mixing probability  [0.9]")
@click.option("--ema", type=BoundedFloat(v.KIMG_OR_ZERO), default=None, help="G_ema half-life in kimg  [batch·10/32]")
@click.option("--mbstd-group", type=BoundedInt(v.MBSTD_GROUP), default=None, help="Minibatch-std group size  [4]")
@click.option("--seed", type=SEED, default=None, help="[0]")
@click.option("--snapshot-kimg", type=_KIMG, default=None, help="Checkpoint + generator snapshot every N kimg  [10]")
@click.option("--sample-kimg", type=_KIMG, default=None, help="Sample grid every N kimg  [5]")
@click.option("--quality-kimg", type=_KIMG, default=None, help="Quality signal every N kimg  [5]")
@click.option("--quality-samples", type=SAMPLES, default=None, help="Samples scored by the quality signal  [256]")
@click.option("--classifier", default=None,
              help="Factor classifier for the quality signal: a path stem, 'auto' (bundled one) or 'none'  [auto]")
@device_option(default=None, help="auto | cpu | cuda | cuda:N | mps  [auto]")
@click.option("--threads", type=THREADS, default=None, help="torch CPU threads (1 is fastest on a busy machine).")
@click.option("--max-minutes", type=BoundedFloat(v.MINUTES), default=None,
              help="Stop (checkpoint, snapshot) after this much wall time; continue later with --resume.")
@click.option("--init-from", default=None, type=click.Path(exists=True),
              help="Warm start (fine-tune): G, D and G_ema from this run directory or checkpoint; fresh optimizers.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(out: str, threads: int | None, max_minutes: float | None, resume: bool, quiet: bool,
            **options: Any) -> None:
    """Train a StyleGAN2 generator (and discriminator) on a procedural or file-backed dataset.

    Non-saturating logistic loss, lazy R1 (every 16 D steps), optional path-length regularization and
    style mixing, G_ema, Adam (lr 0.0025, betas 0 / 0.99, lazy-regularization corrections) as in
    StyleGAN2-ADA. The progress bar shows kimg, the losses and the FID-free quality signal (mean IoU of
    samples against the re-render of their predicted factors, and the factor whose predicted values are
    spread least like real images', with its total variation distance). The run directory gets config.json,
    checkpoint.pt, metrics.json, summary.json, samples/fakesNNNNNN.png and snapshots/network-snapshot-NNNNNN.{json,
    safetensors} (NNNNNN: kimg; NNNNNN_III between whole kimg; load them with latentdirs.load_generator).
    --resume continues bit for bit; only
    --kimg, the intervals, --classifier and --device may change.

    \b
    Examples:
      latentdirs train-gan --dataset dsprites --resolution 64 --out runs/g --kimg 50
      latentdirs train-gan --out runs/g --resume --kimg 100          # continue / extend
      latentdirs train-gan --out runs/g_small --channel-base 1024 --batch 16 --style-mixing 0 \\
          --threads 1 --max-minutes 40
      latentdirs train-gan --out runs/g_ft --init-from runs/g_small --channel-base 1024 --batch 16 \\
          --style-mixing 0 --g-lr 0.0006 --d-lr 0.00025 --kimg 30    # fine-tune at lower rates
      latentdirs train-gan --dataset threedots --out runs/g3 --pl-weight 2 --device cuda
    """
    import torch

    from ..distributed import is_main_process
    from ..gan.training import GANTrainConfig, train_gan
    from ..gan.training.config import resolve_run_config
    from ..gan.training.loop import summary_line

    if threads is not None:
        torch.set_num_threads(threads)
    given = {_RENAMES.get(k, k): v for k, v in options.items() if v is not None}
    cfg = resolve_run_config(GANTrainConfig, "train-gan", out, given, resume)
    summary = train_gan(cfg, out, resume=resume, progress=not quiet, max_minutes=max_minutes)
    if is_main_process():  # under torchrun, rank 0 reports
        click.echo(summary_line(summary))  # the whole record: OUT/summary.json
