"""``latentdirs train-gan``: train a StyleGAN2 generator on a ground-truth dataset (logic in gan.training)."""

from __future__ import annotations

from typing import Any

import click

from .. import validation as v
from ._gan_training import ARCHITECTURE, dataset_and_generator_options, resume_options, run_control_options, train
from ._options import LR, BoundedFloat, BoundedInt


@click.command("train-gan", context_settings={"max_content_width": 110})
@dataset_and_generator_options(kimg_help="Train until this many thousand real images  [100]",
                               batch_help="Batch size, a multiple of the mbstd group  [32]", z_help="[64]")
@click.option("--d-channel-base", type=BoundedInt(v.CHANNEL_BASE), default=None,
              help="Discriminator's channel base  [--channel-base]")
@click.option("--d-channel-max", type=BoundedInt(v.CHANNEL_MAX), default=None,
              help="Discriminator's channel max  [--channel-max]")
@click.option("--d-arch", type=ARCHITECTURE, default=None, help="Discriminator  [resnet]")
@click.option("--g-lr", type=LR, default=None, help="Adam lr of G  [0.0025]")
@click.option("--d-lr", type=LR, default=None, help="Adam lr of D  [0.0025]")
@click.option("--gamma", type=BoundedFloat(v.WEIGHT), default=None, help="R1 weight  [0.0002·res²/batch]")
@click.option("--r1-interval", type=BoundedInt(v.REG_INTERVAL), default=None, help="Lazy R1 every N D steps  [16]")
@click.option("--pl-weight", type=BoundedFloat(v.WEIGHT), default=None,
              help="Path-length regularization weight, 0 = off  [0]")
@click.option("--style-mixing", type=BoundedFloat(v.PROBABILITY), default=None, help="Style-mixing probability  [0.9]")
@click.option("--mbstd-group", type=BoundedInt(v.MBSTD_GROUP), default=None, help="Minibatch-std group size  [4]")
@run_control_options(snapshot_default=10)
@click.option("--init-from", default=None, type=click.Path(exists=True),
              help="Warm start (fine-tune): G, D and G_ema from this run directory or checkpoint; fresh optimizers.")
@resume_options
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
    from ..gan.training import GANTrainConfig, train_gan
    from ..gan.training.loop import summary_line

    train(GANTrainConfig, "train-gan", train_gan, summary_line, out, threads, max_minutes, resume, quiet, options)
